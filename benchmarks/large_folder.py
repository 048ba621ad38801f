"""Large folders in bounded memory: the decoded-image cache's build, an epoch of the data
path read from it, and training steps.

usage: python benchmarks/large_folder.py make FOLDER --n 200000 [--size 32]
       python benchmarks/large_folder.py train FOLDER --run RUN [--steps 100] [--data-pass]
                                         [--batch-size 64] [--image-size 32] [--width 32]

make: N generated RGB PNGs of `--size` px (noise with a bright square in one of three
colour channels, as tests/conftest.py draws them), 1,000 per subfolder.

train: what `infohier train FOLDER --run RUN` does before and in its first epoch, with the
config's defaults but for the sizes given: find the samples, resolve the image spec, build
the decoded-image cache in RUN/cache (or reuse it: then nothing is decoded), the loader
and the learner, as training/train.py builds them. Then
- `--data-pass`: every image of an epoch read from the cache in the epoch's shuffled
  order (the training sampler's), in batches, without the views or the network: every row
  of the memory map is read once, so the peak RSS includes what a whole epoch's reads keep
  mapped (the views, made per image, cost the same whatever the folder's size);
- `--steps K`: the first K optimiser steps of the first epoch (`run_epoch` over the first
  K batches of the same loader): the training rate in images/s.
One JSON line: wall seconds (`_s`) and CPU seconds of this process (`_cpu_s`, which other
load on the machine disturbs less) of each phase, images/s, and the peak RSS (ru_maxrss;
run it under `/usr/bin/time -v` for the same figure from outside).
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import time
from pathlib import Path

import numpy as np


def make_folder(folder: Path, n: int, size: int) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for start in range(0, n, 1000):
        sub = folder / f"d{start // 1000:04d}"
        sub.mkdir(parents=True, exist_ok=True)
        for i in range(start, min(n, start + 1000)):
            pixels = rng.integers(0, 50, (size, size, 3), dtype=np.uint8)
            corner = int(rng.integers(0, size // 2))
            pixels[corner : corner + size // 2, corner : corner + size // 2, i % 3] = 255
            Image.fromarray(pixels).save(sub / f"img{i:06d}.png", compress_level=1)


class FirstBatches:
    """The first `steps` batches of a loader (keeps its sampler and dataset)."""

    def __init__(self, loader, steps: int):
        self.loader, self.steps = loader, steps
        self.sampler, self.dataset = loader.sampler, loader.dataset

    def __len__(self) -> int:
        return min(self.steps, len(self.loader))

    def __iter__(self):
        return itertools.islice(iter(self.loader), self.steps)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def train_phases(args: argparse.Namespace) -> dict:
    import torch

    from infohier_cli.config import TrainConfig
    from infohier_cli.data import resolve_spec, scan_folder
    from infohier_cli.data.group import folder_samples
    from infohier_cli.run import RunDir
    from infohier_cli.runtime.distributed import DistEnv
    from infohier_cli.training.fit import run_epoch
    from infohier_cli.training.setup import build_learner
    from infohier_cli.training.train import make_loader

    device, env, run = torch.device("cpu"), DistEnv(), RunDir(args.run)
    result: dict = {"folder": str(args.folder)}
    started = time.perf_counter()
    samples, _ = folder_samples(args.folder, "")
    config = TrainConfig().replace(
        batch_size=args.batch_size, image_size=args.image_size, width=args.width, epochs=1
    )
    spec = resolve_spec(args.folder, samples, config.channels, config.image_size, fit=config.fit)
    result["find_s"] = round(time.perf_counter() - started, 1)
    started, cpu = time.perf_counter(), time.process_time()
    images, skipped = scan_folder(
        args.folder, samples, spec, cache_dir=run.cache, workers=0, progress=False
    )
    result |= {
        "images": len(images),
        "skipped": len(skipped),
        "cache_s": round(time.perf_counter() - started, 1),
        "cache_cpu_s": round(time.process_time() - cpu, 1),
        "cache_mb": round(images.pixels.path.stat().st_size / 1e6, 1),
        "rss_after_cache_mb": round(peak_rss_mb()),
    }
    loader = make_loader(images, config, env, 0, device)
    loader.sampler.set_epoch(0)
    if args.data_pass:
        rows = torch.utils.data.DataLoader(
            images, batch_size=config.batch_size, sampler=loader.sampler, drop_last=True
        )
        started, cpu, seen = time.perf_counter(), time.process_time(), 0
        for batch in rows:
            seen += len(batch)
        seconds = time.perf_counter() - started
        result |= {
            "data_pass_images": seen,
            "data_pass_s": round(seconds, 1),
            "data_pass_cpu_s": round(time.process_time() - cpu, 1),
            "data_pass_images_per_s": round(seen / seconds),
            "rss_after_data_pass_mb": round(peak_rss_mb()),
        }
    if args.steps:
        learner = build_learner(config, images.spec.channels, device, env)
        learner.network.train()
        cpu = time.process_time()
        _, steps, seen, seconds = run_epoch(
            learner, FirstBatches(loader, args.steps), 0, True, progress=False
        )
        result |= {
            "steps": steps,
            "train_images": seen,
            "train_s": round(seconds, 1),
            "train_cpu_s": round(time.process_time() - cpu, 1),
            "train_images_per_s": round(seen / seconds, 1),
        }
    result["peak_rss_mb"] = round(peak_rss_mb())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("make")
    make.add_argument("folder", type=Path)
    make.add_argument("--n", type=int, default=200_000)
    make.add_argument("--size", type=int, default=32)
    train = commands.add_parser("train")
    train.add_argument("folder", type=Path)
    train.add_argument("--run", type=Path, required=True)
    train.add_argument("--steps", type=int, default=100)
    train.add_argument("--data-pass", action="store_true")
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--image-size", type=int, default=32)
    train.add_argument("--width", type=int, default=32)
    args = parser.parse_args()
    if args.command == "make":
        make_folder(args.folder, args.n, args.size)
    else:
        print(json.dumps(train_phases(args)))


if __name__ == "__main__":
    main()
