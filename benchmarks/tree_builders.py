"""Tree builders on trained runs' latents: the diffusion tree, its neighbouring settings,
single linkage and Ward, all scored by the same dendrogram purity.

usage: python benchmarks/tree_builders.py RUN_DIR=LABELLED_FOLDER [...]

For each run (made by `infohier train` on a folder holding labels.csv), builds from the
same latents: single linkage (`--source single`), Ward (`--source latent`), the diffusion
tree with its defaults (`--source diffusion`, trees/diffusion.py: k = clip(round(√n / 2),
3, 10) neighbours, m = 64 eigenvectors, t = 4 steps) and with one of k, m or t changed.
Prints one markdown row per builder: the mean class / superclass DP over the runs, then
each run's.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from infohier_cli.embeddings import load_embeddings
from infohier_cli.evaluate.metrics import dendrogram_purity
from infohier_cli.evaluate.score import read_label_levels
from infohier_cli.trees.diffusion import DIMENSIONS, STEPS, diffusion_linkage
from infohier_cli.trees.latent import latent_linkage
from infohier_cli.trees.single import single_linkage
from infohier_cli.trees.tree import Tree

NEIGHBOURING = [  # (k, m, t); k None = the default rule
    (5, 64, 4),
    (10, 64, 4),
    (20, 64, 4),
    (None, 32, 4),
    (None, 128, 4),
    (None, 64, 2),
    (None, 64, 8),
]


def builders(latent: np.ndarray) -> Iterator[tuple[str, Callable[[], np.ndarray]]]:
    """(name, linkage maker) of every tree compared."""
    yield "single linkage", lambda: single_linkage(latent)
    yield "Ward", lambda: latent_linkage(latent)
    yield f"diffusion k√ m{DIMENSIONS} t{STEPS} (default)", lambda: diffusion_linkage(latent)
    for k, m, t in NEIGHBOURING:
        name = f"diffusion k{k or '√'} m{m} t{t}"
        yield name, lambda k=k, m=m, t=t: diffusion_linkage(latent, k, m, t)


def purities(tree: Tree, folder: Path) -> list[float]:
    """Class and superclass DP (the class twice when there is one level)."""
    codes, _ = read_label_levels(tree, folder / "labels.csv", None)
    found = [dendrogram_purity(tree, labels) for labels in codes.values()]
    return (found * 2)[:2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="RUN_DIR=LABELLED_FOLDER")
    args = parser.parse_args()
    table: dict[str, list[list[float]]] = {}
    for item in args.runs:
        run, folder = (Path(part) for part in item.split("=", 1))
        emb = load_embeddings(run / "embeddings.npz")
        for name, make in builders(emb.latent):
            table.setdefault(name, []).append(purities(Tree(emb.ids, make()), folder))
    names = " | ".join(Path(item.split("=", 1)[0]).name for item in args.runs)
    print(f"| tree | mean class / super | {names} |")
    print("|---" * (len(args.runs) + 2) + "|")
    for name, rows in table.items():
        values = np.array(rows)
        cells = " | ".join(f"{c:.3f} / {s:.3f}" for c, s in values)
        mean = values.mean(axis=0)
        print(f"| {name} | {mean[0]:.3f} / {mean[1]:.3f} | {cells} |")


if __name__ == "__main__":
    main()
