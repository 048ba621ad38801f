"""Size and time of `infohier report` as the number of images grows.

usage: python benchmarks/report_scale.py prepare WORK [--images 1000 10000 100000]
       python benchmarks/report_scale.py measure WORK [--images 1000 10000 100000]

`prepare` trains a tiny run (24 generated images, 1 epoch: its settings and log are what
the report shows of it), then for each n writes synthetic embeddings (256-d latents
around 20 centres; sample ids `plate 007/cell 000123.png`), their tree (`latent_tree`,
as `infohier tree --source latent` builds it) and an image folder of n links to the 24
images. `measure` runs `infohier report` end to end on each (a fresh process, so Python
and torch start-up are included) with the default levels (4 and 16) and once with
`--cut 64` added, and prints one markdown row each: seconds, peak RSS, the page's size and
its number of <img>.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def prepare(work: Path, sizes: list[int]) -> None:
    from conftest import TINY_TRAIN, make_folder

    from infohier_cli.embeddings import Embeddings, save_embeddings
    from infohier_cli.trees.files import write_tree
    from infohier_cli.trees.registry import latent_tree

    images = make_folder(work / "images", per_class=8)
    run = [*TINY_TRAIN, "--epochs", "1", "--run", str(work / "run"), "--overwrite"]
    subprocess.run(["infohier", "-q", "train", str(images), *run], check=True)
    files = sorted(images.rglob("*.png"))
    for n in sizes:
        rng = np.random.default_rng(n)
        folder = work / f"n{n}"
        ids = [f"plate {i // 1000:03d}/cell {i:06d}.png" for i in range(n)]
        for i, name in enumerate(ids):
            (folder / "images" / name).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(files[i % len(files)], folder / "images" / name)
        label = rng.integers(0, 20, n)
        latent = rng.normal(size=(20, 256))[label] + 0.5 * rng.normal(size=(n, 256))
        emb = Embeddings(ids, latent.astype(np.float32), np.zeros((n, 2), np.float32))
        save_embeddings(folder / "emb.npz", emb)
        started = time.perf_counter()
        write_tree(latent_tree(emb), folder / "tree.nwk", "newick")
        print(f"n={n:,}: tree in {time.perf_counter() - started:.1f} s", flush=True)


def measure(work: Path, sizes: list[int]) -> None:
    print("| images | levels (--cut) | seconds | peak RSS MB | HTML MB | `<img>` |")
    print("|---|---|---|---|---|---|")
    for n in sizes:
        folder = work / f"n{n}"
        for extra in ([], ["--cut", "4", "--cut", "16", "--cut", "64"]):
            out = folder / "report.html"
            command = [
                "/usr/bin/time", "-f", "%e %M", "infohier", "-q", "report",
                "--run", str(work / "run"), "--tree", str(folder / "tree.nwk"),
                "--embeddings", str(folder / "emb.npz"), "--images", str(folder / "images"),
                "--out", str(out), *extra,
            ]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            seconds, kilobytes = done.stderr.split()[-2:]
            page = out.read_text(encoding="utf-8")
            levels = "4, 16, 64" if extra else "4, 16 (default)"
            print(
                f"| {n:,} | {levels} | {float(seconds):.1f} | {int(kilobytes) / 1024:.0f} | "
                f"{len(page.encode()) / 1e6:.2f} | {len(re.findall('<img ', page))} |",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["prepare", "measure"])
    parser.add_argument("work", type=Path)
    parser.add_argument("--images", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    args = parser.parse_args()
    (prepare if args.step == "prepare" else measure)(args.work, args.images)


if __name__ == "__main__":
    main()
