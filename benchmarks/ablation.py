"""Joint vs SSL-only, each scored on the tree `infohier tree` makes by default.

usage: python benchmarks/ablation.py LABELLED_FOLDER:JOINT_RUN:SSL_RUN [...] [--source auto]

Each argument is one folder and seed: a joint run (defaults) and an SSL-only run
(`--lambda-hc 0`) of the same folder, seed and budget. Prints class and superclass
dendrogram purity of both default trees, their difference, and the means over all rows.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from infohier_cli.evaluate.metrics import dendrogram_purity
from infohier_cli.evaluate.score import read_label_levels
from infohier_cli.trees.registry import AUTO, build_tree, source_names


def purities(run: Path, folder: Path, source: str) -> dict[str, float]:
    """Dendrogram purity of the run's tree at each label level of the folder."""
    tree = build_tree(run / "embeddings.npz", source)
    codes, _ = read_label_levels(tree, folder / "labels.csv", None)
    return {level: dendrogram_purity(tree, labels) for level, labels in codes.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", nargs="+", help="FOLDER:JOINT_RUN:SSL_RUN")
    parser.add_argument("--source", default=AUTO, choices=source_names())
    args = parser.parse_args()
    print("| folder | joint run | SSL run | joint class / super | SSL class / super | Δ class |")
    print("|---|---|---|---|---|---|")
    table = []
    for row in args.rows:
        folder, joint, ssl = (Path(part) for part in row.rsplit(":", 2))
        both = [purities(run, folder, args.source) for run in (joint, ssl)]
        levels = (list(both[0]) * 2)[:2]  # one label level: shown twice
        values = [[scores[level] for level in levels] for scores in both]
        table.append(np.array(values))
        shown = [" / ".join(f"{v:.3f}" for v in scores) for scores in values]
        delta = values[0][0] - values[1][0]
        names = f"{folder.name} | {joint.name} | {ssl.name}"
        print(f"| {names} | {shown[0]} | {shown[1]} | {delta:+.3f} |")
    mean = np.mean(table, axis=0)
    print(
        f"| mean of {len(table)} | | | {mean[0, 0]:.3f} / {mean[0, 1]:.3f} | "
        f"{mean[1, 0]:.3f} / {mean[1, 1]:.3f} | {mean[0, 0] - mean[1, 0]:+.3f} |"
    )


if __name__ == "__main__":
    main()
