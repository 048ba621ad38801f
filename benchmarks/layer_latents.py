"""Does the tree grow purer when its latents also hold the encoder's earlier stages?

usage: python benchmarks/layer_latents.py RUN_DIR=LABELLED_FOLDER [...] [--tree diffusion]

A run stores z(x), the global average pool (GAP) of the ResNet's last stage, pooled over
the run's mirror group G (`--latent-symmetry`). The views train that stage to ignore
what the views change, which may drop the texture statistics that LBP histograms read.
Here the tree is also built from stages l = 2, 3, 4 together, each pooled, centred on
its mean over the folder and scaled to unit length (`normalise`, what the trees do to a
latent) before they are joined:

    g_l(x) = (1/|G|) Σ_{g ∈ G} GAP(stage_l(g x)),   u_l = (g_l − ḡ_l) / ‖g_l − ḡ_l‖
    z'(x)  = [ u_4 ; u_3 ]          (N, 12·width)
    z''(x) = [ u_4 ; u_3 ; u_2 ]    (N, 14·width)

so the cosine of z' is the mean of the two stages' cosines (of z'', the three stages').
Columns: "plain" (the last stage alone, recomputed: it repeats the run's stored score),
"stages 4+3" and "stages 4+3+2", each the class / superclass dendrogram purity of the
`--tree` tree (a `--source` of `infohier tree`). Eval mode, float32, no randomness: a row
is reproducible on the CPU. Session 17 tried the same latents on three folders with a
one-off script ("A new machine; latents from earlier stages", Q1); session 45 repeated it
on the eight with this one (BENCHMARKS.md, "The encoder's earlier stages in the tree,
again").
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from view_average import BATCH, load_run, scored_row, tree_table_main

from infohier_cli.training.similarity import normalise
from infohier_cli.training.symmetry import mirror_images

STAGES = (4, 3, 2)  # ResNet stages read, last first
Statistic = Callable[[torch.Tensor], torch.Tensor]  # (N, C, H, W) map -> (N, C)


def spatial_mean(feature_map: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C): global average pool, GAP."""
    return feature_map.mean(dim=(-2, -1))


@torch.inference_mode()
def stage_latents(
    backbone: nn.Module,
    images: torch.Tensor,
    symmetry: str,
    stages: tuple[int, ...] = STAGES,
    statistic: Statistic = spatial_mean,
) -> list[torch.Tensor]:
    """(N, C, S, S) -> [g_l for l in `stages`]: each stage's `statistic` (N, channels_l),
    averaged over `symmetry`'s mirror images, in batches of `BATCH`."""
    pooled: dict[int, torch.Tensor] = {}
    hooks = [
        getattr(backbone, f"layer{stage}").register_forward_hook(
            lambda _module, _inputs, output, stage=stage: pooled.__setitem__(
                stage, statistic(output)
            )
        )
        for stage in stages
    ]
    try:
        chunks: list[list[torch.Tensor]] = []
        for start in range(0, len(images), BATCH):
            per_mirror = []
            for mirror in mirror_images(images[start : start + BATCH], symmetry):
                backbone(mirror)
                per_mirror.append([pooled[stage] for stage in stages])
            chunks.append([torch.stack(parts).mean(0) for parts in zip(*per_mirror, strict=True)])
    finally:
        for hook in hooks:
            hook.remove()
    return [torch.cat(parts) for parts in zip(*chunks, strict=True)]


def joined(stages: list[torch.Tensor]) -> torch.Tensor:
    """[g_a, g_b, ...] -> [u_a ; u_b ; ...] (N, Σ channels), u = `normalise`(g)."""
    return torch.cat([torch.from_numpy(normalise(stage.numpy())) for stage in stages], dim=1)


def row(run: Path, folder: Path, tree_name: str) -> str:
    """One table row: the folder, the run and its three scores."""
    model, checkpoint, stack, emb = load_run(run, folder)
    g4, g3, g2 = stage_latents(model.encoder.backbone, stack, checkpoint.config.latent_symmetry)
    latents = [g4, joined([g4, g3]), joined([g4, g3, g2])]
    return scored_row(run, folder, emb, latents, tree_name)


def main() -> None:
    tree_table_main(__doc__.splitlines()[0], ["plain", "stages 4+3", "stages 4+3+2"], row)


if __name__ == "__main__":
    main()
