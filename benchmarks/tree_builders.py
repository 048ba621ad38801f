"""Tree builders on trained runs' latents: the diffusion tree, its neighbouring settings,
single linkage and Ward, all scored by the same dendrogram purity.

usage: python benchmarks/tree_builders.py RUN_DIR=LABELLED_FOLDER [...] [--per-class M]
                                         [--draws R]

For each run (made by `infohier train` on a folder holding labels.csv), builds from the
same latents: single linkage (`--source single`), Ward (`--source latent`), the diffusion
tree with its defaults (`--source diffusion`, trees/diffusion.py: k = clip(round(√n / 2),
3, 10) neighbours, m = 64 eigenvectors, t = 4 steps) and with one of k, m or t changed.
Prints one markdown row per builder: the mean class / superclass DP over the runs, then
each run's. With --per-class M, each run's images are subsampled to M of each class (R
seeded draws; the run's cell is their mean): a folder of small groups.

Two diagnostics, off by default: `--ball` adds trees of the run's ball points (the space
the hierarchical loss trains): its greedy decoding (`--source disk`), the diffusion tree
of the ball points, and Ward on their log map at the origin, log₀(x) = artanh(‖x‖)·x/‖x‖.
`--transforms` adds the default tree of transformed latents: √z (power normalisation), PCA
to 32 dimensions (plain and whitened) and each dimension standardised (session 19).
`--given-classes` adds a tree that is told the classes: each class its own subtree, the
classes joined by Ward on their mean latents (`latent.cell_ward`). It is not a tree anyone
could build without labels; its superclass DP is what the latents alone give the order
of the classes once the classes are right.
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from infohier_cli.embeddings import load_embeddings
from infohier_cli.evaluate.metrics import dendrogram_purity
from infohier_cli.evaluate.score import read_label_levels
from infohier_cli.training.similarity import normalise
from infohier_cli.trees.diffusion import DIMENSIONS, STEPS, diffusion_linkage
from infohier_cli.trees.disk import decode
from infohier_cli.trees.latent import cell_ward, latent_linkage
from infohier_cli.trees.single import single_linkage
from infohier_cli.trees.tree import Tree
from infohier_cli.trees.ward import ward

NEIGHBOURING = [  # (k, m, t); k None = the default rule
    (5, 64, 4),
    (10, 64, 4),
    (20, 64, 4),
    (None, 32, 4),
    (None, 128, 4),
    (None, 64, 2),
    (None, 64, 8),
]


def principal_components(x: np.ndarray, dims: int, whiten: bool) -> np.ndarray:
    """(n, D) -> (n, dims): coordinates on the top principal axes of the centred rows
    (scaled to unit variance with `whiten`)."""
    u, singular, _ = np.linalg.svd(x - x.mean(axis=0), full_matrices=False)
    return u[:, :dims] * (1.0 if whiten else singular[:dims])


TRANSFORMS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "√z": lambda z: np.sqrt(np.maximum(z, 0.0)),
    "PCA to 32": lambda z: principal_components(z, 32, whiten=False),
    "PCA to 32, whitened": lambda z: principal_components(z, 32, whiten=True),
    "standardised": lambda z: (z - z.mean(axis=0)) / (z.std(axis=0) + 1e-6),
}


def builders(
    latent: np.ndarray,
    ball: np.ndarray | None = None,
    classes: np.ndarray | None = None,
    transforms: bool = False,
) -> Iterator[tuple[str, Callable[[], np.ndarray]]]:
    """(name, linkage maker) of every tree compared; the ball trees with `ball` (n, d),
    the tree told the classes with `classes` (n,) in 0..c−1, the default tree of
    transformed latents with `transforms`."""
    yield "single linkage", lambda: single_linkage(latent)
    yield "Ward", lambda: latent_linkage(latent)
    yield f"diffusion k√ m{DIMENSIONS} t{STEPS} (default)", lambda: diffusion_linkage(latent)
    for k, m, t in NEIGHBOURING:
        name = f"diffusion k{k or '√'} m{m} t{t}"
        yield name, lambda k=k, m=m, t=t: diffusion_linkage(latent, k, m, t)
    for name, transform in TRANSFORMS.items() if transforms else ():
        yield (
            f"diffusion of {name}",
            lambda t=transform: diffusion_linkage(t(latent.astype(np.float64))),
        )
    if ball is not None:
        radius = np.linalg.norm(ball, axis=1, keepdims=True).clip(1e-12, 1 - 1e-7)
        yield "ball: greedy decoding (disk)", lambda: decode(ball).linkage
        yield "ball: diffusion", lambda: diffusion_linkage(ball)
        yield "ball: Ward on log₀", lambda: ward(np.arctanh(radius) * ball / radius)
    if classes is not None:
        yield (
            "classes given, Ward of their means",
            lambda: cell_ward(normalise(latent), classes, cells_first=True),
        )


def purities(tree: Tree, folder: Path) -> list[float]:
    """Class and superclass DP (the class twice when there is one level)."""
    codes, _ = read_label_levels(tree, folder / "labels.csv", None)
    found = [dendrogram_purity(tree, labels) for labels in codes.values()]
    return (found * 2)[:2]


def class_codes(ids: list[str], folder: Path) -> np.ndarray:
    """(n,) class of each image as 0..c−1, from the folder's labels.csv."""
    with open(folder / "labels.csv", newline="", encoding="utf-8") as handle:
        label = {row["path"]: row["class"] for row in csv.DictReader(handle)}
    return np.unique([label[name] for name in ids], return_inverse=True)[1].reshape(-1)


def draws(classes: np.ndarray, per_class: int, count: int) -> list[np.ndarray]:
    """`count` seeded draws of row indices: `per_class` images of each class (`classes`,
    (n,) codes; all of a smaller class); one draw of every row without `per_class`."""
    if not per_class:
        return [np.arange(len(classes))]
    picked = []
    for seed in range(count):
        rng = np.random.default_rng(seed)
        groups = [np.flatnonzero(classes == c) for c in np.unique(classes)]
        chosen = [rng.choice(g, min(per_class, len(g)), replace=False) for g in groups]
        picked.append(np.sort(np.concatenate(chosen)))
    return picked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="RUN_DIR=LABELLED_FOLDER")
    parser.add_argument("--per-class", type=int, default=0, help="subsample to M per class")
    parser.add_argument("--draws", type=int, default=5, help="subsamples per run")
    parser.add_argument("--ball", action="store_true", help="add the ball points' trees")
    parser.add_argument(
        "--given-classes", action="store_true", help="add the tree told the classes"
    )
    parser.add_argument(
        "--transforms", action="store_true", help="add trees of transformed latents"
    )
    args = parser.parse_args()
    table: dict[str, list[list[float]]] = {}
    for item in args.runs:
        run, folder = (Path(part) for part in item.split("=", 1))
        emb = load_embeddings(run / "embeddings.npz")
        scores: dict[str, list[list[float]]] = {}
        codes = class_codes(emb.ids, folder)  # every draw keeps every class
        for rows in draws(codes, args.per_class, args.draws):
            ids = [emb.ids[i] for i in rows]
            ball = emb.disk[rows].astype(np.float64) if args.ball else None
            classes = codes[rows] if args.given_classes else None
            for name, make in builders(emb.latent[rows], ball, classes, args.transforms):
                scores.setdefault(name, []).append(purities(Tree(ids, make()), folder))
        for name, found in scores.items():
            table.setdefault(name, []).append(np.mean(found, axis=0).tolist())
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
