"""`infohier embed`'s forward pass against a bare ResNet-18 forward at the same batch and
image size (design target: at least 80% of the bare rate).

usage: python benchmarks/throughput.py [--n 2048] [--batch-size 256] [--image-size 32]
                                       [--width 32] [--channels 1] [--repeats 3]

Both sides run in this process on the same in-memory images (no decoding), so the ratio
isolates what infohier adds: the data loader, the projector and the Poincaré head.
Prints one markdown table with the best of `--repeats` timings.
"""

from __future__ import annotations

import argparse
import time

import torch

from infohier_cli.config import TrainConfig
from infohier_cli.embed import embed_images
from infohier_cli.model.encoder import resnet18_backbone
from infohier_cli.model.network import InfoHierModel


def best_seconds(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    images = torch.rand(args.n, args.channels, args.image_size, args.image_size)
    device = torch.device("cpu")
    config = TrainConfig(image_size=args.image_size, width=args.width)
    model = InfoHierModel(config, args.channels).eval()
    bare = resnet18_backbone(args.channels, args.image_size, args.width).eval()

    @torch.inference_mode()
    def bare_pass() -> None:
        for start in range(0, args.n, args.batch_size):
            bare(images[start : start + args.batch_size])

    def embed_pass() -> None:
        embed_images(model, images, device, batch_size=args.batch_size, progress=False)

    bare_rate = args.n / best_seconds(bare_pass, args.repeats)
    embed_rate = args.n / best_seconds(embed_pass, args.repeats)
    print(
        f"torch threads: {torch.get_num_threads()}, {args.n} images "
        f"{args.channels}x{args.image_size}x{args.image_size}, width {args.width}, "
        f"batch {args.batch_size}\n"
    )
    print("| pass | images/s | ratio |\n|---|---|---|")
    print(f"| bare ResNet-18 backbone forward | {bare_rate:.0f} | 1.00 |")
    print(
        f"| infohier embed_images (loader, backbone, projector, head) | {embed_rate:.0f} "
        f"| {embed_rate / bare_rate:.2f} |"
    )


if __name__ == "__main__":
    main()
