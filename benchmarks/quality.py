"""Quality table: classical baselines and infohier runs, scored on the same images.

usage: python benchmarks/quality.py FOLDER [--run NAME=RUN_DIR ...] [--image-size S]
                                   [--fit auto|crop|pad]

Needs the `bench` extra (scikit-image, for HOG and LBP): pip install '.[bench]'.
The classical rows (pixels, PCA, HOG, LBP histograms) are computed at the images' own
resolution (median side of the square --fit makes, at most 64 px; --image-size to force
one), which favours them: infohier's auto size is at most 32 px. Each feature is tried
with Ward, average and (for HOG and LBP) single linkage and the diffusion tree (the
default tree's builder).
FOLDER must hold labels.csv (path,class[,superclass]) — used only to score. For each run
folder (made by `infohier train`), four trees are scored: the diffusion tree of the run's
latents (`--source diffusion`, the default up to 10,000 images), single linkage on them
(`--source single`), Ward on them (`--source latent`) and the ball's greedy hyperbolic
decoding (`--source disk`).
Prints one markdown table: dendrogram purity and NMI of the cut at each label level,
with the seconds each row took to build its tree.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy.cluster.hierarchy import linkage

from infohier_cli.config import FIT_MODES, TrainConfig
from infohier_cli.data import (
    ImageSpec,
    discover_images,
    resolve_fit,
    resolve_spec,
    sample_shapes,
    scan_folder,
    square_side,
)
from infohier_cli.evaluate.score import evaluate_tree, read_label_levels
from infohier_cli.run import RunDir
from infohier_cli.trees.diffusion import diffusion_linkage
from infohier_cli.trees.registry import build_tree
from infohier_cli.trees.tree import Tree


def pixel_matrix(folder: Path, size: int, fit: str) -> tuple[list[str], np.ndarray, ImageSpec]:
    paths = discover_images(folder)
    spec = resolve_spec(folder, paths, "auto", size, fit=fit)
    images, _ = scan_folder(folder, paths, spec, progress=False, warn=lambda _m: None)
    pixels = np.stack([images[i].numpy().ravel() for i in range(len(images))]).astype(np.float64)
    return images.paths, pixels, spec


def hog_matrix(pixels: np.ndarray, channels: int, size: int) -> np.ndarray:
    """HOG descriptors (scikit-image, the `bench` extra): 9 orientations, 4x4-pixel cells
    at 16 px and 8x8 above, 2x2-cell blocks, of the channel-mean image."""
    from skimage.feature import hog

    cell = 4 if size <= 16 else 8
    images = pixels.reshape(len(pixels), channels, size, size).mean(axis=1)
    return np.stack(
        [
            hog(image, orientations=9, pixels_per_cell=(cell, cell), cells_per_block=(2, 2))
            for image in images
        ]
    )


def lbp_matrix(pixels: np.ndarray, channels: int, size: int) -> np.ndarray:
    """Multi-scale uniform LBP histograms (scikit-image, the `bench` extra) of every channel:
    (P, R) = (8, 1), (16, 2), (24, 3), each a normalised histogram of its P + 2 codes,
    concatenated; square roots taken (the Hellinger embedding), so Ward's Euclidean
    distance suits histograms."""
    from skimage.feature import local_binary_pattern

    images = pixels.reshape(len(pixels), channels, size, size)
    low, high = images.min(), images.max()
    images = np.round((images - low) / max(high - low, 1e-12) * 255).astype(np.uint8)
    rows = []
    for image in images:
        parts = []
        for channel in image:
            for points, radius in ((8, 1), (16, 2), (24, 3)):
                codes = local_binary_pattern(channel, points, radius, method="uniform")
                hist = np.bincount(codes.astype(int).ravel(), minlength=points + 2)
                parts.append(np.sqrt(hist / hist.sum()))
        rows.append(np.concatenate(parts))
    return np.stack(rows)


def native_size(folder: Path, fit: str, cap: int = 64) -> int:
    """The median side of the squares `fit` makes of the folder's images (long side for
    'pad', short side for 'crop'), at most `cap` (classical features are computed at the
    images' own resolution, which favours them)."""
    shapes = sample_shapes(folder, discover_images(folder))
    return int(min(cap, np.median([square_side(shape, fit) for shape in shapes])))


def score(tree: Tree, labels_csv: Path) -> dict:
    codes, _ = read_label_levels(tree, labels_csv, None)
    return evaluate_tree(tree, codes, None)["levels"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--run", action="append", default=[], help="NAME=RUN_DIR")
    parser.add_argument(
        "--image-size",
        type=int,
        default=0,
        help="size of the classical rows' images; 0 = the folder's median side, at most 64",
    )
    parser.add_argument(
        "--fit",
        choices=FIT_MODES,
        default=TrainConfig.fit,
        help="how the classical rows make images square (infohier's --fit; default %(default)s)",
    )
    args = parser.parse_args()
    labels_csv = args.folder / "labels.csv"
    rows: list[tuple[str, dict, float]] = []

    fit = resolve_fit(args.folder, discover_images(args.folder), args.fit, say=print)
    size = args.image_size or native_size(args.folder, fit)
    names, pixels, spec = pixel_matrix(args.folder, size, fit)
    centred = pixels - pixels.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    pca = centred @ vt[:50].T
    started = time.perf_counter()
    hog = hog_matrix(pixels, spec.channels, spec.size)
    hog_seconds = time.perf_counter() - started
    started = time.perf_counter()
    lbp = lbp_matrix(pixels, spec.channels, spec.size)
    lbp_seconds = time.perf_counter() - started
    for label, data, method, feature_seconds in [
        ("raw pixels + ward", pixels, "ward", 0.0),
        ("raw pixels + average", pixels, "average", 0.0),
        ("PCA-50 of pixels + ward", pca, "ward", 0.0),
        ("HOG + ward", hog, "ward", hog_seconds),
        ("HOG + average", hog, "average", hog_seconds),
        ("HOG + single", hog, "single", hog_seconds),
        ("HOG + diffusion tree", hog, "diffusion", hog_seconds),
        ("LBP histograms + ward", lbp, "ward", lbp_seconds),
        ("LBP histograms + average", lbp, "average", lbp_seconds),
        ("LBP histograms + single", lbp, "single", lbp_seconds),
        ("LBP histograms + diffusion tree", lbp, "diffusion", lbp_seconds),
    ]:
        started = time.perf_counter()
        rows_of_merges = (
            diffusion_linkage(data) if method == "diffusion" else linkage(data, method=method)
        )
        tree = Tree(names, rows_of_merges)
        rows.append(
            (label, score(tree, labels_csv), feature_seconds + time.perf_counter() - started)
        )

    for run_arg in args.run:
        name, run_dir = run_arg.split("=", 1)
        for source, label in [
            ("diffusion", "diffusion tree on latents (default)"),
            ("single", "single linkage on latents"),
            ("latent", "ward on latents"),
            ("disk", "ball tree"),
        ]:
            started = time.perf_counter()
            tree = build_tree(RunDir(run_dir).embeddings, source)
            rows.append(
                (f"{name}: {label}", score(tree, labels_csv), time.perf_counter() - started)
            )

    print(f"classical rows at {spec.size} px")
    levels = list(rows[0][1])
    header = "| method | " + " | ".join(f"DP {lv} | NMI {lv}" for lv in levels) + " | s |"
    print(header)
    print("|" + "---|" * (2 * len(levels) + 2))
    for label, scores, seconds in rows:
        cells = " | ".join(
            f"{scores[lv]['dendrogram_purity']:.3f} | {scores[lv]['cut_nmi']:.3f}" for lv in levels
        )
        print(f"| {label} | {cells} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
