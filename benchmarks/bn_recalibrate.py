"""Do batch-norm statistics taken from the plain images make the tree purer?

usage: python benchmarks/bn_recalibrate.py RUN_DIR=LABELLED_FOLDER [...] [--tree diffusion]

A trained run's encoder normalises every feature map with the running statistics
(μ_c, σ²_c) it averaged over its training views: random crops of 30-100 % of the image
resized to S, with flips, jitter and blur. The stored latents are computed from the plain
images, whose statistics differ. Here the encoder's BatchNorm2d statistics are replaced by
those of the folder's plain images, as the run embeds them (each image with its mirror
images, `--latent-symmetry`), with the weights unchanged (AdaBN, Li et al. 2016):

    μ_c = mean over images and positions of a_c,   σ²_c = the unbiased variance of a_c,

taken batch by batch (torch's cumulative average, `momentum=None`) in equal batches of at
most 512 images, then the latents are recomputed (`pooled_forward`, eval mode). Each row
scores the stored latents' tree ("plain": recomputed, it repeats the run's stored score)
and the recalibrated latents' tree on `--tree` (a `--source` of `infohier tree`),
class / superclass dendrogram purity. No randomness: a row is reproducible on the CPU.
Session 42 (BENCHMARKS.md, "Milder view averaging; batch-norm statistics of the plain
images; a third seed on the Xeon", part 2); session 43 on fresh runs ("Batch-norm
statistics on fresh runs; a fourth seed on the Xeon", part 2).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn
from view_average import latents, load_run, scored_row, tree_table_main

from infohier_cli.training.symmetry import mirror_images

RECALIBRATION_BATCH = 512


@torch.inference_mode()
def recalibrate(backbone: nn.Module, images: torch.Tensor, symmetry: str) -> None:
    """Replace every BatchNorm2d's running statistics in `backbone` by those of `images`
    (N, C, S, S) and their mirror images under `symmetry`; leaves it in eval mode."""
    for norm in backbone.modules():
        if isinstance(norm, nn.BatchNorm2d):
            norm.reset_running_stats()
            norm.momentum = None  # cumulative average over the batches below
    backbone.train()
    for chunk in torch.chunk(images, math.ceil(len(images) / RECALIBRATION_BATCH)):
        for mirror in mirror_images(chunk, symmetry):
            backbone(mirror)
    backbone.eval()


def row(run: Path, folder: Path, tree_name: str) -> str:
    """One table row: the folder, the run and its two scores."""
    model, checkpoint, stack, emb = load_run(run, folder)
    symmetry = checkpoint.config.latent_symmetry
    with torch.inference_mode():
        plain = latents(model, stack, symmetry)
    recalibrate(model.encoder.backbone, stack, symmetry)
    with torch.inference_mode():
        recalibrated = latents(model, stack, symmetry)
    return scored_row(run, folder, emb, [plain, recalibrated], tree_name)


def main() -> None:
    tree_table_main(__doc__.splitlines()[0], ["plain", "BN statistics of the plain images"], row)


if __name__ == "__main__":
    main()
