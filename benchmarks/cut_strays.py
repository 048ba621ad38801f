"""Flat cuts of the default tree with and without the size floor (`Tree.clusters`).

usage: python benchmarks/cut_strays.py RUN_DIR=LABELLED_FOLDER [...] [--source single]

For each run, the tree `infohier tree` makes by default (or `--source`) is cut into as
many clusters as each label level has, twice: the plain cut (the k − 1 highest merges
undone, `min_size=1`) and the default cut (a split counts only when both sides hold at
least n / 5k leaves). Prints NMI against the labels and the largest cluster's share.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from infohier_cli.evaluate.metrics import cut_scores
from infohier_cli.evaluate.score import read_label_levels
from infohier_cli.trees.registry import AUTO, build_tree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="RUN_DIR=FOLDER (FOLDER holds labels.csv)")
    parser.add_argument("--source", default=AUTO)
    args = parser.parse_args()
    print("| run | level | k | plain cut: NMI, largest | default cut: NMI, largest |")
    print("|---|---|---|---|---|")
    for pair in args.runs:
        run, folder = (Path(part) for part in pair.split("=", 1))
        tree = build_tree(run / "embeddings.npz", args.source)
        codes, _ = read_label_levels(tree, folder / "labels.csv", None)
        for level, labels in codes.items():
            k = len(np.unique(labels[labels >= 0]))
            cells = []
            for min_size in (1, None):
                cut = tree.cut(k, min_size)
                nmi = cut_scores(labels[labels >= 0], cut[labels >= 0])["nmi"]
                cells.append(f"{nmi:.3f}, {np.bincount(cut).max() / tree.n:.0%}")
            print(f"| {run.name} | {level} | {k} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
