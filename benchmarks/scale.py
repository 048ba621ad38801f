"""Decoding, the default tree and `infohier tree` at scale.

usage: python benchmarks/scale.py [--part disk] [--n 1000000] [--free-n 100000]
                                  [--scipy-n 10000] [--latent-dim 256] [--workdir DIR]
       python benchmarks/scale.py --part tree [--sizes 10000 100000 1000000]
                                  [--latent-dim 512] [--scipy-max 20000] [--genie-max 0]
       python benchmarks/scale.py --part eigen --sizes 2000 10000
       python benchmarks/scale.py --part quality [--labelled EMB.npz=LABELS.csv ...]
                                  [--mixture-sizes 10000 20000] [--seeds 3]
                                  [--large-sizes 100000 1000000]

disk (the default part):
1. Writes an embeddings.npz of N images (paths, latent N x D float32, disk points on the
   circle of radius 0.95 as a fixed-radius run makes, then at radii 0.05..0.95 as a
   free-radius one) and times `infohier tree --embeddings ... --out tree.nwk` as a
   subprocess, with its peak RSS.
2. Times decode() alone on those points, and on FREE_N free-radius points.
3. Times decode() and scipy's linkage(method="single") on the same SCIPY_N disk points.
tree: for each size, an embeddings.npz of `mixture` latents (n x 512 float32) and 16-D
ball points; times the default `infohier tree` (auto: the latent tree above 10,000
images, `--source latent` too where auto takes the ball) end to end as a subprocess with
its peak RSS, and in the same way scipy's exact Ward on the normalised latents (sizes up
to --scipy-max) and genieclust's Genie (up to --genie-max, if genieclust is importable:
a benchmark-only row, `pip install genieclust`).
eigen: the diffusion tree's eigensolvers on the neighbour graph of `mixture` latents of
each size: Lanczos (the default path above 500 images) and the dense fallback that answers
when Lanczos does not converge, seconds and the largest eigenvalue difference.
quality: dendrogram purity of the cell tree (forced: exact_max=0) over exact Ward's, per
label level: on trained latents (EMB.npz with its labels.csv: path,class[,superclass]),
mean and lowest over --seeds k-means seeds, and on `mixture` latents of each size; then
the default tree's dendrogram purity alone on `mixture` latents of each --large-sizes.
Each part prints one markdown table.
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
from infohier_cli.trees.registry import resolve_source
from infohier_cli.trees.tree import Tree


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


def timed_child(command: list[str]) -> tuple[float, float]:
    """Seconds and peak RSS (GB) of a child process. Start it before this process holds
    much memory: a child's peak RSS counts what it shared with its parent at fork."""
    started = time.perf_counter()
    child = subprocess.Popen(command)
    _, status, usage = os.wait4(child.pid, 0)  # this child's own peak, not its siblings'
    seconds = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"{command[:4]} failed with status {status}")
    return seconds, usage.ru_maxrss / 1024**2


def tree_end_to_end(emb_file: Path, workdir: Path, source: str) -> tuple[float, float]:
    """Seconds and peak RSS (GB) of `infohier tree --source SOURCE` on `emb_file`."""
    out = workdir / "tree.nwk"
    module = [sys.executable, "-m", "infohier_cli", "tree", "--embeddings", str(emb_file)]
    return timed_child([*module, "--out", str(out), "--source", source])


def disk_part(args: argparse.Namespace) -> None:
    """Decoding and `infohier tree` (disk source) at N images (see the module docstring)."""
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
            seconds, peak = tree_end_to_end(workdir / "embeddings.npz", workdir, "disk")
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


def mixture(
    n: int, dim: int = 512, seed: int = 0, supers: int = 10, per_super: int = 10
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n float32 latents of a two-level Gaussian mixture -> (latents, class, superclass).

    `supers` superclass centres ~ N(0, I); each holds `per_super` class centres at
    N(0, 0.3² I) around it; points at N(0, 1.2² I) around their class centre. In 512
    dimensions the superclasses separate cleanly and the classes overlap: exact Ward's
    class dendrogram purity is about 0.65 (BENCHMARKS.md)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((supers, dim)).astype(np.float32)
    classes = np.repeat(centres, per_super, axis=0)
    classes += 0.3 * rng.standard_normal(classes.shape, dtype=np.float32)
    label = rng.integers(len(classes), size=n)
    latents = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 65536):  # in chunks: a million rows take 2 GB, not 4
        rows = label[start : start + 65536]
        latents[start : start + len(rows)] = classes[rows] + 1.2 * rng.standard_normal(
            (len(rows), dim), dtype=np.float32
        )
    return latents, label, label // per_super


def write_mixture_embeddings(path: Path, n: int, latent_dim: int, ball_dim: int) -> None:
    """An embeddings.npz of n images: `mixture` latents, ball points at radii 0.3..0.95."""
    rng = np.random.default_rng(1)
    direction = rng.standard_normal((n, ball_dim)).astype(np.float32)
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    ball = direction * rng.uniform(0.3, 0.95, size=(n, 1)).astype(np.float32)
    save_embeddings(
        path,
        Embeddings(
            [f"plate {i // 1000:04d}/cell {i:07d}.tif" for i in range(n)],
            mixture(n, latent_dim)[0],
            ball,
        ),
    )


BASELINES = {
    "scipy": "from scipy.cluster.hierarchy import linkage; linkage(unit, method='ward')",
    "genie": "import genieclust; genieclust.Genie(n_clusters=1).fit(unit)",
}


def baseline_end_to_end(name: str, emb_file: Path) -> tuple[float, float]:
    """Seconds and peak RSS (GB) of a child that reads the latents, normalises them and
    builds the `name` baseline's tree (the reading counted, as for `infohier tree`)."""
    code = (
        "import numpy as np\n"
        "from infohier_cli.training.similarity import normalise\n"
        f"unit = normalise(np.load({str(emb_file)!r})['latent'])\n" + BASELINES[name]
    )
    return timed_child([sys.executable, "-c", code])


def tree_part(args: argparse.Namespace) -> None:
    """The default tree at each size, against scipy's Ward and genieclust."""
    try:
        import genieclust  # noqa: F401  (benchmark-only)

        genie = True
    except ImportError:
        genie = False
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        workdir = args.workdir or Path(scratch)
        emb_file = workdir / "embeddings.npz"
        for n in args.sizes:
            maker = multiprocessing.get_context("spawn").Process(
                target=write_mixture_embeddings,
                args=(emb_file, n, args.latent_dim, args.ball_dim),
            )
            maker.start()  # in a fresh process, so that this one stays small
            maker.join()
            auto = resolve_source("auto", n)
            seconds, peak = tree_end_to_end(emb_file, workdir, "auto")
            rows.append((f"{n:,}", f"`infohier tree` (default: auto = {auto})", seconds, peak))
            if auto != "latent":
                seconds, peak = tree_end_to_end(emb_file, workdir, "latent")
                rows.append((f"{n:,}", "`infohier tree --source latent`", seconds, peak))
            if n <= args.scipy_max:
                seconds, peak = baseline_end_to_end("scipy", emb_file)
                rows.append((f"{n:,}", "scipy `linkage(method='ward')`, exact", seconds, peak))
            if genie and n <= args.genie_max:
                seconds, peak = baseline_end_to_end("genie", emb_file)
                rows.append((f"{n:,}", "genieclust `Genie()` (Gini 0.3)", seconds, peak))
    print(
        f"{args.latent_dim}-d float32 latents (`mixture`), {args.ball_dim}-D ball points\n\n"
        "| images | tree | seconds | peak RSS GB |\n|---|---|---|---|"
    )
    for n, what, seconds, peak in rows:
        print(f"| {n} | {what} | {seconds:.1f} | {peak:.2f} |")


def exact_tree(latents: np.ndarray, names: list[str]) -> Tree:
    """Exact Ward on the normalised latents, whatever their number."""
    from infohier_cli.trees.latent import latent_linkage

    return Tree(names, latent_linkage(latents, exact_max=len(latents)))


def purity_ratios(latents: np.ndarray, exact: Tree, levels: dict[str, np.ndarray], seeds: int):
    """({level: exact Ward DP}, {level: [cell tree DP / exact DP per seed]})."""
    from infohier_cli.evaluate.metrics import dendrogram_purity
    from infohier_cli.trees.latent import latent_linkage

    exact_dp = {level: dendrogram_purity(exact, codes) for level, codes in levels.items()}
    ratios: dict[str, list[float]] = {level: [] for level in levels}
    for seed in range(seeds):
        cells = Tree(exact.names, latent_linkage(latents, exact_max=0, seed=seed))
        for level, codes in levels.items():
            ratios[level].append(dendrogram_purity(cells, codes) / exact_dp[level])
    return exact_dp, ratios


def quality_part(args: argparse.Namespace) -> None:
    """Cell tree vs exact Ward: dendrogram purity ratios (see the module docstring)."""
    from infohier_cli.embeddings import load_embeddings
    from infohier_cli.evaluate.score import read_label_levels
    from infohier_cli.trees.latent import default_cells

    cases = []
    for pair in args.labelled:
        emb_file, labels_csv = pair.split("=", 1)
        emb = load_embeddings(Path(emb_file))
        exact = exact_tree(emb.latent, emb.ids)
        levels, _ = read_label_levels(exact, Path(labels_csv), None)
        cases.append((Path(emb_file).parent.name, emb.latent, exact, levels, args.seeds))
    for n in args.mixture_sizes:
        latents, label, superclass = mixture(n)
        exact = exact_tree(latents, [str(i) for i in range(n)])
        levels = {"class": label, "superclass": superclass}
        cases.append((f"mixture {n:,}", latents, exact, levels, 1))
    if cases:
        print(
            "| latents | n | cells | level | exact Ward DP | cell tree / exact: mean | lowest |\n"
            "|---|---|---|---|---|---|---|"
        )
    for name, latents, exact, levels, seeds in cases:
        exact_dp, ratios = purity_ratios(latents, exact, levels, seeds)
        for level in levels:
            print(
                f"| {name} | {len(latents):,} | {default_cells(len(latents))} | {level} | "
                f"{exact_dp[level]:.3f} | {np.mean(ratios[level]):.3f} | "
                f"{np.min(ratios[level]):.3f} |"
            )
    if args.large_sizes:
        large_purity(args.large_sizes)


def large_purity(sizes: list[int]) -> None:
    """Dendrogram purity of the default latent tree on `mixture` latents too many for
    exact Ward (no ratio: there is nothing to divide by)."""
    from infohier_cli.evaluate.metrics import dendrogram_purity
    from infohier_cli.trees.latent import latent_linkage

    print("\n| latents | level | cell tree DP |\n|---|---|---|")
    for n in sizes:
        latents, label, superclass = mixture(n)
        tree = Tree([str(i) for i in range(n)], latent_linkage(latents))
        del latents
        for level, codes in (("class", label), ("superclass", superclass)):
            print(f"| mixture {n:,} | {level} | {dendrogram_purity(tree, codes):.3f} |")


def eigen_part(args: argparse.Namespace) -> None:
    """The diffusion tree's eigensolvers on one neighbour graph per size: Lanczos (what
    `infohier tree` uses above DENSE_MAX) and the dense fallback (when Lanczos does not
    converge), timed in this process on the same matrix."""
    from infohier_cli.training.similarity import normalise
    from infohier_cli.trees.diffusion import (
        DIMENSIONS,
        dense_top_eigenpairs,
        neighbour_count,
        neighbour_graph,
        symmetric_walk,
        top_eigenpairs,
    )

    print("| images | eigensolver | seconds | largest eigenvalue difference from dense |")
    print("|---|---|---|---|")
    for n in args.sizes:
        latents = mixture(n, args.latent_dim)[0]
        unit = normalise(latents, mean=np.zeros(latents.shape[1]))  # as diffusion_linkage
        symmetric, _ = symmetric_walk(neighbour_graph(unit, neighbour_count(n)))
        started = time.perf_counter()
        lanczos, _ = top_eigenpairs(symmetric, DIMENSIONS)
        lanczos_seconds = time.perf_counter() - started
        started = time.perf_counter()
        dense, _ = dense_top_eigenpairs(symmetric, DIMENSIONS)
        dense_seconds = time.perf_counter() - started
        gap = float(np.abs(lanczos - dense).max())
        print(f"| {n:,} | Lanczos (`eigsh`) | {lanczos_seconds:.1f} | {gap:.1e} |")
        print(f"| {n:,} | dense fallback | {dense_seconds:.1f} | 0 |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("disk", "tree", "quality", "eigen"), default="disk")
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--free-n", type=int, default=100_000)
    parser.add_argument("--scipy-n", type=int, default=10_000)
    parser.add_argument("--latent-dim", type=int, default=None, help="256 (disk), 512 (tree)")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--ball-dim", type=int, default=16)
    parser.add_argument("--scipy-max", type=int, default=20_000)
    parser.add_argument("--genie-max", type=int, default=0)
    parser.add_argument("--labelled", nargs="*", default=[], metavar="EMB.npz=LABELS.csv")
    parser.add_argument("--mixture-sizes", type=int, nargs="*", default=[10_000, 20_000])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--large-sizes", type=int, nargs="*", default=[])
    args = parser.parse_args()
    if args.latent_dim is None:
        args.latent_dim = 256 if args.part == "disk" else 512
    parts = {"disk": disk_part, "tree": tree_part, "quality": quality_part, "eigen": eigen_part}
    parts[args.part](args)


if __name__ == "__main__":
    main()
