"""Decoding and `infohier tree` at scale (issue: 1M points end to end, 100k free radius).

usage: python benchmarks/scale.py [--n 1000000] [--free-n 100000] [--scipy-n 10000]
                                  [--latent-dim 256] [--workdir DIR]

1. Writes an embeddings.npz of N images (paths, latent N x D float32, disk points on the
   circle of radius 0.95 as a fixed-radius run makes, then at radii 0.05..0.95 as a
   free-radius one) and times `infohier tree --embeddings ... --out tree.nwk` as a
   subprocess, with its peak RSS.
2. Times decode() alone on those points, and on FREE_N free-radius points.
3. Times decode() and scipy's linkage(method="single") on the same SCIPY_N disk points.
Prints one markdown table.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from infohier_cli.embeddings import Embeddings, save_embeddings
from infohier_cli.trees.disk import decode


def disk_points(n: int, free: bool, rng: np.random.Generator) -> np.ndarray:
    """n points in the Poincaré disk: on the r = 0.95 circle, or at radii in [0.05, 0.95]."""
    angle = rng.uniform(0.0, 2.0 * np.pi, n)
    radius = rng.uniform(0.05, 0.95, n) if free else np.full(n, 0.95)
    return (np.stack([np.cos(angle), np.sin(angle)], 1) * radius[:, None]).astype(np.float32)


def timed(function, *args) -> float:
    started = time.perf_counter()
    function(*args)
    return time.perf_counter() - started


def write_embeddings(path: Path, n: int, latent_dim: int, free: bool) -> None:
    """An embeddings.npz of n images with random latents and disk points."""
    rng = np.random.default_rng(0)
    save_embeddings(
        path,
        Embeddings(
            [f"plate {i // 1000:04d}/cell {i:07d}.tif" for i in range(n)],
            rng.standard_normal((n, latent_dim), dtype=np.float32),
            disk_points(n, free, rng),
        ),
    )


def tree_end_to_end(emb_file: Path, workdir: Path) -> tuple[float, float]:
    """Seconds and peak RSS (GB) of `infohier tree` on `emb_file`. Run before this process
    holds much memory: a child's peak RSS counts what it shared with its parent at fork."""
    command = [
        sys.executable,
        "-m",
        "infohier_cli",
        "tree",
        "--embeddings",
        str(emb_file),
        "--out",
        str(workdir / "tree.nwk"),
    ]
    started = time.perf_counter()
    child = subprocess.Popen(command)
    _, status, usage = os.wait4(child.pid, 0)  # this child's own peak, not its siblings'
    seconds = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"infohier tree failed with status {status}")
    return seconds, usage.ru_maxrss / 1024**2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--free-n", type=int, default=100_000)
    parser.add_argument("--scipy-n", type=int, default=10_000)
    parser.add_argument("--latent-dim", type=int, default=256)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        workdir = args.workdir or Path(scratch)
        for free in (False, True):
            maker = multiprocessing.get_context("spawn").Process(
                target=write_embeddings,
                args=(workdir / "embeddings.npz", args.n, args.latent_dim, free),
            )
            maker.start()  # in a fresh process, so that this one stays small (see above)
            maker.join()
            seconds, peak = tree_end_to_end(workdir / "embeddings.npz", workdir)
            rows.append(
                (
                    f"`infohier tree`, {args.n:,} {'free' if free else 'fixed'}-radius "
                    "images, end to end",
                    f"{seconds:.1f}",
                    f"{peak:.2f}",
                )
            )
    for n, free in [(args.n, False), (args.free_n, True)]:
        points = disk_points(n, free, rng)
        kind = "free" if free else "fixed"
        rows.append((f"decode(), {n:,} {kind}-radius points", f"{timed(decode, points):.2f}", ""))
    from scipy.cluster.hierarchy import linkage

    for free in (False, True):
        points = disk_points(args.scipy_n, free, rng)
        ours = timed(decode, points)
        theirs = timed(linkage, points.astype(np.float64), "single")
        kind = "free" if free else "fixed"
        rows.append(
            (
                f"{args.scipy_n:,} {kind}-radius points: decode() vs scipy single "
                f"linkage (Euclidean)",
                f"{ours:.3f} vs {theirs:.3f} (scipy / ours = {theirs / ours:.1f})",
                "",
            )
        )
    print("| measurement | seconds | peak RSS GB |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
