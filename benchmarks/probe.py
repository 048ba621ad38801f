"""What a run's latents know: probes of the label levels and of one channel's blob shape.

usage: python benchmarks/probe.py RUN_DIR=LABELLED_FOLDER [...] [--moments CHANNEL]

For each run (made by `infohier train` on a folder holding labels.csv), from the run's
L2-normalised latents u_i (n, D), 5-fold cross-validated (stratified, shuffled, seed 0):
- the accuracy of a linear probe (multinomial logistic regression) and of a cosine 10-NN
  vote, for each label level (class, superclass): is the level in the latents at all, and
  is it in their neighbourhoods (what the tree is built from)?
- with --moments C: the R² of ridge regressions (alpha by internal CV) from the latents to
  the shape of channel C's brightest blob in the image file (read with the project's
  reader at full resolution): the elongation log(√(λ₁/λ₂)), clipped to [0, 1.5], of the
  blob's second-moment matrix M (pixels above 0.4 of the channel's maximum over its
  median, intensity-weighted), and, over the images with elongation above 1.5, its
  orientation (cos 2θ, sin 2θ), θ = ½·atan2(2M_xy, M_xx − M_yy). A flip x → −x maps
  (cos 2θ, sin 2θ) to (cos 2θ, −sin 2θ), a quarter turn to (−cos 2θ, −sin 2θ): which of
  them a run encodes shows which symmetries it learnt, and the elongation is invariant
  to all of them.
Needs the `bench` extra (scikit-learn).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from infohier_cli.data.read import read_pixels
from infohier_cli.embeddings import load_embeddings
from infohier_cli.training.similarity import normalise

FOLDS = 5
NEIGHBOURS = 10
BLOB_LEVEL = 0.4  # blob = pixels above this fraction of the channel's max over its median
ELONGATED = 1.5  # √(λ₁/λ₂) above which a blob has an orientation


def label_columns(folder: Path, paths: list[str]) -> dict[str, np.ndarray]:
    """{level: (n,) labels} of labels.csv's columns other than `path`, in `paths` order."""
    with open(folder / "labels.csv", newline="", encoding="utf-8") as handle:
        rows = {row["path"]: row for row in csv.DictReader(handle)}
    levels = [key for key in next(iter(rows.values())) if key != "path"]
    return {level: np.array([rows[p][level] for p in paths]) for level in levels}


def blob_shape(image: np.ndarray, channel: int) -> tuple[float, float, float]:
    """(elongation √(λ₁/λ₂), cos 2θ, sin 2θ) of one (C, H, W) image's channel blob."""
    plane = image[channel].astype(np.float64)
    plane = np.clip(plane - np.median(plane), 0, None)
    weight = np.where(plane > BLOB_LEVEL * plane.max(), plane, 0.0)
    yy, xx = np.mgrid[: plane.shape[0], : plane.shape[1]]
    total = weight.sum()
    cy, cx = (weight * yy).sum() / total, (weight * xx).sum() / total
    mxx = (weight * (xx - cx) ** 2).sum() / total
    myy = (weight * (yy - cy) ** 2).sum() / total
    mxy = (weight * (xx - cx) * (yy - cy)).sum() / total
    half_spread = np.hypot((mxx - myy) / 2, mxy)
    ratio = ((mxx + myy) / 2 + half_spread) / max((mxx + myy) / 2 - half_spread, 1e-12)
    theta = 0.5 * np.arctan2(2 * mxy, mxx - myy)
    return float(np.sqrt(ratio)), float(np.cos(2 * theta)), float(np.sin(2 * theta))


def main() -> None:
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="RUN_DIR=LABELLED_FOLDER")
    parser.add_argument("--moments", type=int, default=None, metavar="CHANNEL")
    args = parser.parse_args()
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=0)
    ridge_folds = KFold(FOLDS, shuffle=True, random_state=0)
    for item in args.runs:
        run, folder = (Path(part) for part in item.split("=", 1))
        emb = load_embeddings(run / "embeddings.npz")
        unit = normalise(emb.latent, mean=np.zeros(emb.latent.shape[1]))
        cells = []
        for level, labels in label_columns(folder, emb.ids).items():
            linear = LogisticRegression(max_iter=3000)
            knn = KNeighborsClassifier(NEIGHBOURS, metric="cosine")
            lin = cross_val_score(linear, unit, labels, cv=folds).mean()
            near = cross_val_score(knn, unit, labels, cv=folds).mean()
            cells.append(f"{level}: linear {lin:.3f}, {NEIGHBOURS}-NN {near:.3f}")
        if args.moments is not None:
            shape = np.array([blob_shape(read_pixels(folder / p), args.moments) for p in emb.ids])
            ridge = RidgeCV(alphas=np.logspace(-3, 3, 13))
            target = np.clip(np.log(shape[:, 0]), 0, 1.5)
            r2 = cross_val_score(ridge, unit, target, cv=ridge_folds, scoring="r2").mean()
            oriented = shape[:, 0] > ELONGATED
            cos2, sin2 = (
                cross_val_score(
                    ridge, unit[oriented], shape[oriented, k], cv=ridge_folds, scoring="r2"
                ).mean()
                for k in (1, 2)
            )
            cells.append(f"R² elongation {r2:.2f}, cos 2θ {cos2:.2f}, sin 2θ {sin2:.2f}")
        print(f"{run.name}: " + "; ".join(cells))


if __name__ == "__main__":
    main()
