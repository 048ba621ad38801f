"""Whose nearest neighbours share a class more often: the ball's or the latents'?

usage: python benchmarks/ball_neighbours.py LABELS_CSV RUN_DIR [RUN_DIR ...]

For each image of a run's embeddings file, its k nearest other images two ways: by the
ball (the deepest LCA, d_o(e_i ∨ e_j), model/hyperbolic.py: the pair the ball's tree
merges first) and by the latents (the centred cosine the trees and the hierarchical loss
use, training/similarity.py). Printed per run and k ∈ {1, 5}: the share of those
neighbours with the image's own class (LABELS_CSV: path, class[, ...]). Any signal that
takes the ball's neighbours as alike (tree positives, session 32; tree negatives,
session 38; BENCHMARKS.md) is at most as right as this share.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import torch

from infohier_cli.embeddings import load_embeddings
from infohier_cli.model.hyperbolic import lca_depth
from infohier_cli.training.similarity import normalise

NEIGHBOURS = (1, 5)


def same_class_share(closeness: np.ndarray, classes: np.ndarray, k: int) -> float:
    """Mean over rows of the share of the k largest off-diagonal entries of `closeness`
    (n, n) whose class equals the row's. classes (n,)."""
    closeness = closeness.copy()
    np.fill_diagonal(closeness, -np.inf)
    nearest = np.argsort(-closeness, axis=1)[:, :k]
    return float(np.mean(classes[nearest] == classes[:, None]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("labels", type=Path)
    parser.add_argument("runs", type=Path, nargs="+")
    args = parser.parse_args()
    with open(args.labels, newline="", encoding="utf-8") as handle:
        class_of = {row[0]: row[1] for row in list(csv.reader(handle))[1:]}
    for run in args.runs:
        emb = load_embeddings(run / "embeddings.npz")
        classes = np.array([class_of[sample] for sample in emb.ids])
        ball = torch.as_tensor(emb.disk, dtype=torch.float64)
        by = {
            "ball": lca_depth(ball[:, None], ball[None]).numpy(),
            "latent": normalise(emb.latent) @ normalise(emb.latent).T,
        }
        shares = [
            f"{name}@{k} {same_class_share(closeness, classes, k):.3f}"
            for name, closeness in by.items()
            for k in NEIGHBOURS
        ]
        print(f"{run}: same-class share of the nearest k:", ", ".join(shares))


if __name__ == "__main__":
    main()
