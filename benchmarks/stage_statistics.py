"""Does the tree grow purer when its latents also hold the spread of a stage's feature map?

usage: python benchmarks/stage_statistics.py RUN_DIR=LABELLED_FOLDER [...] [--tree diffusion]

A run's latent z(x) is the spatial mean of the ResNet's last stage (its global average
pool), pooled over the run's mirror group G. The mean drops how much a channel varies
across the image, the statistic that style and texture descriptors read (a Gram matrix's
diagonal; "statistics pooling"). Here the tree is also built from each channel's spatial
standard deviation, of the last stage (a 4 x 4 map at 32 px) or of the third (8 x 8):

    m_l(x) = (1/|G|) Σ_{g ∈ G} mean_hw(stage_l(g x)),   (N, channels_l)
    s_l(x) = (1/|G|) Σ_{g ∈ G} std_hw(stage_l(g x)),    (N, channels_l), biased std
    z_S(x)  = [ u(m_4) ; u(s_4) ],   z_S3(x) = [ u(m_4) ; u(s_3) ]

with u = `normalise` (centred on the folder's mean, unit length), so the cosine of z_S is
the mean of the two cosines. Columns: "plain" (u(m_4) alone: it repeats the run's stored
score), "mean + std 4" and "mean + std 3", each the class / superclass dendrogram purity
of the `--tree` tree. Eval mode, float32, no randomness: a row is reproducible on the CPU.
Session 46 (BENCHMARKS.md, "SSL-only seed 2 on the EPYC; a stage's spread beside its
mean; colour jitter", part 2).
"""

from __future__ import annotations

from pathlib import Path

import torch
from layer_latents import joined, stage_latents
from view_average import load_run, scored_row, tree_table_main


def mean_and_std(feature_map: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, 2C): [each channel's mean ; its biased standard deviation] over
    the map, so that one forward pass gives both."""
    std, mean = torch.std_mean(feature_map, dim=(-2, -1), unbiased=False)
    return torch.cat([mean, std], dim=1)


def row(run: Path, folder: Path, tree_name: str) -> str:
    """One table row: the folder, the run and its three scores."""
    model, checkpoint, stack, emb = load_run(run, folder)
    backbone, symmetry = model.encoder.backbone, checkpoint.config.latent_symmetry
    stage4, stage3 = stage_latents(backbone, stack, symmetry, stages=(4, 3), statistic=mean_and_std)
    m4, s4 = stage4.chunk(2, dim=1)
    s3 = stage3.chunk(2, dim=1)[1]
    latents = [m4, joined([m4, s4]), joined([m4, s3])]
    return scored_row(run, folder, emb, latents, tree_name)


def main() -> None:
    tree_table_main(__doc__.splitlines()[0], ["plain", "mean + std 4", "mean + std 3"], row)


if __name__ == "__main__":
    main()
