"""Queries per second of `infohier assign`'s exact nearest-neighbour search.

usage: python benchmarks/assign.py [--index 100000 1000000] [--dim 256] [--queries 2000]
       [--k 10]

Random latents (float32) as the training index; the search is `infohier_cli.assign.nearest`
on unit latents centred on the index mean (the one latent similarity), exactly what
`infohier assign` runs after embedding the new images. Embedding is not timed (see
benchmarks/throughput.py). Prints one markdown row per index size.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from infohier_cli.assign import Index, nearest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print("| indexed latents | dim | queries | k | index build s | search s | queries/s |")
    print("|---|---|---|---|---|---|---|")
    for n in args.index:
        latent = rng.standard_normal((n, args.dim), dtype=np.float32)
        queries = rng.standard_normal((args.queries, args.dim), dtype=np.float32)
        started = time.perf_counter()
        index = Index.from_latents([str(i) for i in range(n)], latent)
        built = time.perf_counter() - started
        started = time.perf_counter()
        nearest(index.unit, index.units(queries), args.k)
        searched = time.perf_counter() - started
        print(
            f"| {n:,} | {args.dim} | {args.queries:,} | {args.k} | {built:.2f} | "
            f"{searched:.2f} | {args.queries / searched:,.0f} |"
        )


if __name__ == "__main__":
    main()
