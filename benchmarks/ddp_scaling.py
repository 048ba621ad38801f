"""DDP scaling on the CPU: `infohier train` in 1 process against 2 processes (gloo, torchrun).

usage: python benchmarks/ddp_scaling.py [--images 512] [--epochs 3] [--image-size 32]
                                        [--width 32] [--batch-size 64]

Trains the same generated folder (random 8-bit gray PNGs) three times, each a separate
`python -m infohier_cli train` with the same global batch and a fixed number of steps
(`--epochs` x images / batch, every epoch with the hierarchical loss):

- 1 process, 1 thread (OMP_NUM_THREADS=1): the per-core baseline T1;
- 1 process, 2 threads: what a plain run gets from two cores;
- 2 processes under torchrun, 1 thread each, on the CPU (gloo all-reduce).

Throughput is the median `images_per_s` of the epochs after the first in train_log.jsonl
(global images, both views each). Parallel efficiency = T_2proc / (2 · T1); the speed-up
over the 2-thread single process is T_2proc / T_1proc,2threads. Prints one markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_folder(root: Path, n: int, size: int) -> Path:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    for i in range(n):
        pixels = rng.integers(0, 256, (size, size), dtype=np.uint8)
        Image.fromarray(pixels, "L").save(root / f"img{i:05d}.png")
    return root


def run_training(
    folder: Path, run: Path, args: argparse.Namespace, processes: int, threads: int
) -> tuple[float, float]:
    """One `infohier train` -> (median images/s after the first epoch, wall seconds)."""
    launcher = [sys.executable, "-m", "infohier_cli"]
    if processes > 1:
        launcher = [
            sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(processes),
            "--master-addr", "127.0.0.1", "--master-port", str(free_port()), "-m", "infohier_cli",
        ]  # fmt: skip
    command = [
        *launcher, "--quiet", "train", str(folder), "--run-dir", str(run), "--device", "cpu",
        "--epochs", str(args.epochs), "--warmup-epochs", "0", "--image-size",
        str(args.image_size), "--width", str(args.width), "--batch-size", str(args.batch_size),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True)
    wall = time.perf_counter() - started
    lines = (run / "train_log.jsonl").read_text().splitlines()
    rates = [json.loads(line)["images_per_s"] for line in lines]
    return statistics.median(rates[1:] or rates), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_folder(Path(tmp) / "images", args.images, args.image_size)
        setups = [(1, 1), (1, 2), (2, 1)]
        results = {
            (p, t): run_training(folder, Path(tmp) / f"run_{p}x{t}", args, p, t) for p, t in setups
        }
    one = results[(1, 1)][0]
    steps = args.epochs * (args.images // args.batch_size)
    print(
        f"{args.images} images 1x{args.image_size}x{args.image_size}, width {args.width}, "
        f"global batch {args.batch_size}, {steps} steps, CPU ({os.cpu_count()} cores)\n"
    )
    print("| processes x threads | images/s | wall s | speed-up vs 1x1 | parallel efficiency |")
    print("|---|---|---|---|---|")
    for (p, t), (rate, wall) in results.items():
        efficiency = f"{rate / (p * one):.2f}" if t == 1 else "n/a"
        print(f"| {p} x {t} | {rate:.1f} | {wall:.1f} | {rate / one:.2f} | {efficiency} |")
    two_threads, two_processes = results[(1, 2)][0], results[(2, 1)][0]
    print(f"\n2 processes against 1 process with 2 threads: {two_processes / two_threads:.2f}x")


if __name__ == "__main__":
    main()
