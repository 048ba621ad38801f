"""`infohier embed` and `infohier train` against bare ResNet-18 passes of the same backbone.

usage: python benchmarks/throughput.py [--n 2048] [--batch-size 256] [--image-size 32]
                                       [--width 32] [--channels 1] [--repeats 3]
                                       [--train-images 1024] [--train-batch 64]
                                       [--train-epochs 4] [--device auto] [--amp auto]

Embedding row: `embed_images` against a bare forward at the same batch and image size, on
the same in-memory images (no decoding), so the ratio isolates what infohier adds: the data
loader, the projector and the Poincaré head (design target: at least 80% of the bare rate).

Training row: `infohier train`'s loop, built by the library as `train` builds it
(`build_learner`, `make_loader`, `fit`; the config's defaults but for the sizes given and
`--warmup-epochs 0`, so every epoch carries the hierarchical loss) on a generated folder of
`--train-images` PNGs: the loader, both augmented views, NT-Xent + the Dasgupta triplet
loss and the optimiser steps (an image = one image's two views). After each epoch the bare
pass runs as many steps: a forward + backward of the same backbone on both views of a
batch (2·`--train-batch` images at once, no optimiser step). Interleaving the two keeps
their ratio fair when the machine's load drifts. The rows give the medians over the epochs
after the first and the median of the per-epoch ratios, by the wall clock and by this
process's CPU time (which other processes on a shared machine disturb far less; with one
thread it is the work done); target: at least 0.85.
Then the time to make one batch's two views, per image (the CPU default) and batched on
the device (`--batch-augment on`, here on the CPU). `--n 0` leaves out the embedding rows,
`--train-images 0` the training rows. `--device auto` takes CUDA when present; there the
bare training pass runs with the mixed precision and memory format that `infohier train`
resolves for the device (bf16 autocast, channels-last; embedding is float32 on both
sides, as `embed_images` is), and every timed block ends in a CUDA sync. `--amp` sets the
training rows' precision as `infohier train --amp` does (auto: bfloat16 on CUDA and on a
CPU with bfloat16 instructions; off: float32), for both the loop and the bare pass.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from infohier_cli.config import TrainConfig
from infohier_cli.data import ImageSpec, scan_folder
from infohier_cli.embed import embed_images
from infohier_cli.model.encoder import resnet18_backbone
from infohier_cli.model.network import InfoHierModel
from infohier_cli.runtime.device import (
    amp_dtype,
    autocast,
    loader_workers,
    memory_format,
    pick_device,
)
from infohier_cli.runtime.distributed import DistEnv
from infohier_cli.training.augment import PerImageViews
from infohier_cli.training.batch_views import BatchViews
from infohier_cli.training.fit import fit
from infohier_cli.training.setup import build_learner
from infohier_cli.training.train import make_loader


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA runs asynchronously); nothing on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_seconds(function, repeats: int, device: torch.device) -> float:
    times = []
    for _ in range(repeats):
        synchronize(device)
        started = time.perf_counter()
        function()
        synchronize(device)
        times.append(time.perf_counter() - started)
    return min(times)


def view_seconds(args: argparse.Namespace) -> tuple[float, float]:
    """Seconds to make one batch's two views: per image (PerImageViews, as the loader does on
    the CPU) and batched (BatchViews.on_device, `--batch-augment on`), best of `--repeats`."""
    config = TrainConfig(image_size=args.image_size, width=args.width)
    images = torch.rand(args.train_batch, args.channels, args.image_size, args.image_size)
    per_image = PerImageViews(images, config, args.channels)
    batched = BatchViews(images, config)
    indices, device = torch.arange(args.train_batch), args.device
    cpu = torch.device("cpu")
    return (
        best_seconds(lambda: [per_image[i] for i in range(args.train_batch)], args.repeats, cpu),
        best_seconds(lambda: batched.on_device((indices, images), device), args.repeats, device),
    )


def training_rates(args: argparse.Namespace) -> list[tuple[float, float, float, float]]:
    """Per epoch, on a generated folder: `infohier train`'s images/s and the bare backbone's
    forward + backward images/s measured right after that epoch, by the wall clock and by
    this process's CPU time: (train wall, bare wall, train CPU, bare CPU)."""
    rng = np.random.default_rng(0)
    mode = "L" if args.channels == 1 else "RGB"
    shape = (args.image_size, args.image_size) + (() if args.channels == 1 else (3,))
    config = TrainConfig(
        image_size=args.image_size,
        width=args.width,
        batch_size=args.train_batch,
        epochs=args.train_epochs,
        warmup_epochs=0,
        amp=args.amp,
    )
    device, env = args.device, DistEnv()
    amp, layout = amp_dtype(config.amp, device), memory_format(config.channels_last, device)
    with tempfile.TemporaryDirectory() as tmp:
        names = [f"img{i:05d}.png" for i in range(args.train_images)]
        for name in names:
            pixels = rng.integers(0, 256, shape, dtype=np.uint8)
            Image.fromarray(pixels, mode).save(Path(tmp) / name)
        spec = ImageSpec(args.image_size, args.channels)
        images, _ = scan_folder(Path(tmp), names, spec, progress=False, warn=lambda _: None)
        learner = build_learner(config, args.channels, device, env)
        loader = make_loader(images, config, env, loader_workers(device, None, print), device)
        bare = resnet18_backbone(args.channels, args.image_size, args.width).train()
        bare = bare.to(device, memory_format=layout)
        views = torch.rand(2 * args.train_batch, args.channels, args.image_size, args.image_size)
        views = views.to(device, memory_format=layout)
        rates, cpu_mark = [], [time.process_time()]

        def bare_epoch(_epoch: int, log: dict) -> None:
            train_cpu = time.process_time() - cpu_mark[0]
            synchronize(device)
            started, cpu_started = time.perf_counter(), time.process_time()
            for _ in range(len(loader)):
                bare.zero_grad(set_to_none=True)
                with autocast(amp, device):
                    out = bare(views)
                out.float().sum().backward()
            synchronize(device)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            n = len(loader) * args.train_batch
            rates.append((log["images"] / log["seconds"], n / wall, n / train_cpu, n / cpu))
            line = ", ".join(f"{r:.1f}" for r in rates[-1])
            print(
                f"epoch {len(rates)} (train, bare wall; train, bare CPU): {line}", file=sys.stderr
            )
            cpu_mark[0] = time.process_time()

        fit(learner, loader, 0, on_epoch_end=bare_epoch, progress=False)
    return rates


def embed_rows(args: argparse.Namespace) -> None:
    """The embedding table: bare forward against `embed_images`, best of `--repeats`."""
    torch.manual_seed(0)
    images = torch.rand(args.n, args.channels, args.image_size, args.image_size)
    device = args.device
    config = TrainConfig(image_size=args.image_size, width=args.width)
    model = InfoHierModel(config, args.channels).eval().to(device)
    bare = resnet18_backbone(args.channels, args.image_size, args.width).eval().to(device)

    @torch.inference_mode()
    def bare_pass() -> None:
        for start in range(0, args.n, args.batch_size):
            bare(images[start : start + args.batch_size].to(device))

    def embed_pass() -> None:
        embed_images(model, images, device, batch_size=args.batch_size, progress=False)

    bare_rate = args.n / best_seconds(bare_pass, args.repeats, device)
    embed_rate = args.n / best_seconds(embed_pass, args.repeats, device)
    print(
        f"embedding: {args.n} images "
        f"{args.channels}x{args.image_size}x{args.image_size}, width {args.width}, "
        f"batch {args.batch_size}\n"
    )
    print("| pass | images/s | ratio |\n|---|---|---|")
    print(f"| bare ResNet-18 backbone forward | {bare_rate:.0f} | 1.00 |")
    print(
        f"| infohier embed_images (loader, backbone, projector, head) | {embed_rate:.0f} "
        f"| {embed_rate / bare_rate:.2f} |\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train-images", type=int, default=1024)
    parser.add_argument("--train-batch", type=int, default=64)
    parser.add_argument("--train-epochs", type=int, default=4)
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--amp", default="auto", choices=("auto", "on", "off"))
    args = parser.parse_args()
    args.device = pick_device(args.device)
    name = torch.cuda.get_device_name(args.device) if args.device.type == "cuda" else "CPU"
    precision = amp_dtype(args.amp, args.device) or torch.float32
    print(
        f"device: {name}; torch {torch.__version__}, threads: {torch.get_num_threads()}, "
        f"training precision: {str(precision).removeprefix('torch.')}\n"
    )
    if args.n:
        embed_rows(args)
    if args.train_images:
        rates = training_rates(args)
        print(
            f"training: {args.train_images} images, batch {args.train_batch}, both views; "
            "per epoch (train, bare) images/s by the wall clock: "
            + ", ".join(f"({r[0]:.1f}, {r[1]:.1f})" for r in rates)
            + "; by CPU time: "
            + ", ".join(f"({r[2]:.1f}, {r[3]:.1f})" for r in rates)
            + "\n"
        )
        kept = rates[1:] or rates
        median = [statistics.median(r[k] for r in kept) for k in range(4)]
        wall_ratio = statistics.median(r[0] / r[1] for r in kept)
        cpu_ratio = statistics.median(r[2] / r[3] for r in kept)
        print("| pass | images/s (wall) | ratio (wall) | images/CPU-s | ratio (CPU time) |")
        print("|---|---|---|---|---|")
        bare_row = "bare ResNet-18 backbone forward + backward, both views"
        print(f"| {bare_row} | {median[1]:.1f} | 1.00 | {median[3]:.1f} | 1.00 |")
        print(
            "| infohier train (loader, augmentation, both views, NT-Xent + HC loss, "
            f"optimiser steps) | {median[0]:.1f} | {wall_ratio:.2f} | {median[2]:.1f} "
            f"| {cpu_ratio:.2f} |"
        )
        bare_trained = median[1]
        per_image, batched = view_seconds(args)
        print(
            f"\nthe two views of one batch of {args.train_batch}: per image in the loader "
            f"{1000 * per_image:.1f} ms, batched (--batch-augment on) {1000 * batched:.1f} ms; "
            f"one bare step {1000 * args.train_batch / bare_trained:.0f} ms"
        )


if __name__ == "__main__":
    main()
