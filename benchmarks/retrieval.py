"""Retrieval quality: precision@10 and mAP of the nearest training images, by label.

usage: python benchmarks/retrieval.py FOLDER [FOLDER ...] [--run FOLDER=RUN_DIR ...]
       [--k 10] [--no-baselines]

Needs the `bench` extra (scikit-image, for HOG and LBP): pip install '.[bench]'.
Each FOLDER holds labels.csv (path,class[,superclass]; used only to score). Every image is
a query against all the others (leave-one-out over the folder):
- a run's latents (`--run FOLDER=RUN_DIR`, FOLDER matched by path or by folder name; its
  `embeddings.npz` is only read) are ranked by `infohier assign`'s own search
  (`infohier_cli.assign`: the latent similarity, centred on the training mean);
- the hand-crafted rows, HOG and LBP histograms (benchmarks/quality.py) at the images' own
  resolution, are ranked by Euclidean distance, the distance their Ward trees use.
precision@k = the share of the k nearest with the query's label; AP = the mean, over the
positions r of the images with the query's label in the full ranking, of the precision at
r; mAP = the mean AP over queries. Both per label level (class, superclass). Prints one
markdown table.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import hog_matrix, lbp_matrix, native_size, pixel_matrix  # noqa: E402

from infohier_cli.assign import Index, nearest  # noqa: E402
from infohier_cli.embeddings import load_embeddings  # noqa: E402
from infohier_cli.run import RunDir  # noqa: E402


def label_levels(folder: Path, names: list[str]) -> dict[str, np.ndarray]:
    """{'class': (n,) codes, 'superclass': (n,) codes if present} for `names`, in order."""
    with open(folder / "labels.csv", newline="", encoding="utf-8") as handle:
        rows = {row["path"]: row for row in csv.DictReader(handle)}
    levels = {}
    for level in ("class", "superclass"):
        values = [rows[name].get(level) for name in names]
        if all(values):
            levels[level] = np.unique(values, return_inverse=True)[1]
    return levels


def latent_ranking(latent: np.ndarray) -> np.ndarray:
    """(n, n) rows of the index by `infohier assign`'s search, nearest first, self
    included."""
    index = Index.from_latents([str(i) for i in range(len(latent))], latent)
    return nearest(index.unit, index.units(latent), len(latent))[0]


def euclidean_ranking(features: np.ndarray) -> np.ndarray:
    """(n, n) rows by Euclidean distance, nearest first, self included."""
    squares = np.einsum("ij,ij->i", features, features)
    distance = squares[:, None] + squares[None, :] - 2.0 * features @ features.T
    return np.argsort(distance, axis=1, kind="stable")


def retrieval_scores(ranking: np.ndarray, labels: np.ndarray, k: int) -> tuple[float, float]:
    """(mean precision@k, mAP) of leave-one-out retrieval. ranking (n, n): each row the
    indices nearest first, the query itself among them (dropped); labels (n,)."""
    n = len(labels)
    others = ranking[ranking != np.arange(n)[:, None]].reshape(n, n - 1)
    relevant = labels[others] == labels[:, None]  # (n, n−1)
    precision_at_k = relevant[:, :k].mean(axis=1)
    hits = np.cumsum(relevant, axis=1)
    precision_at_r = hits / np.arange(1, n)[None, :]
    count = np.maximum(relevant.sum(axis=1), 1)
    average_precision = (precision_at_r * relevant).sum(axis=1) / count
    return float(precision_at_k.mean()), float(average_precision.mean())


def rankings_for(folder: Path, runs: list[tuple[str, Path]], baselines: bool):
    """Yield (label, names, ranking) for one folder."""
    if baselines:
        size = native_size(folder)
        names, pixels, spec = pixel_matrix(folder, size)
        yield f"HOG ({size} px)", names, euclidean_ranking(hog_matrix(pixels, spec.channels, size))
        yield f"LBP ({size} px)", names, euclidean_ranking(lbp_matrix(pixels, spec.channels, size))
    for key, run_dir in runs:
        if key in (str(folder), folder.name):
            emb = load_embeddings(RunDir(run_dir).embeddings)
            yield f"run {run_dir.name}: latents", list(emb.ids), latent_ranking(emb.latent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--run", action="append", default=[], help="FOLDER=RUN_DIR")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--no-baselines", action="store_true", help="score only --run latents")
    args = parser.parse_args()
    runs = [(spec.split("=", 1)[0], Path(spec.split("=", 1)[1])) for spec in args.run]
    k = args.k
    print(f"| folder | features | class P@{k} | class mAP | superclass P@{k} | superclass mAP |")
    print("|---|---|---|---|---|---|")
    for folder in args.folders:
        for label, names, ranking in rankings_for(folder, runs, not args.no_baselines):
            cells = []
            for codes in label_levels(folder, names).values():
                cells += [f"{score:.3f}" for score in retrieval_scores(ranking, codes, k)]
            print(f"| {folder.name} | {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
