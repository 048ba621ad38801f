"""Faults: kill `infohier train` at random moments, resume, and compare with a straight run.

usage: python benchmarks/faults.py [--trials 10] [--epochs 3] [--images 24] [--seed 0]

A small folder of generated images is trained once without interruption (CPU, seeded).
Then, for each trial, the same command is started in a fresh run folder and sent SIGKILL
(even trials) or SIGINT (odd trials) at a random moment of its run (uniform over 5-95% of
the straight run's wall time, start-up included); it is then resumed (`--resume`, or
started again when it died before its first checkpoint) until it finishes. A trial counts
as bit-identical when the final checkpoint's weights and `embeddings.npz` equal the
straight run's exactly; the run folder is usable when the resume exits 0 and `infohier
tree` reads the result. Prints one markdown row per trial and a summary line.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def make_images(root: Path, n: int) -> Path:
    """`n` 16-px RGB pictures in three visually distinct classes (seeded)."""
    rng = np.random.default_rng(0)
    for i in range(n):
        k = i % 3
        (root / f"c{k}").mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 50, (16, 16, 3), dtype=np.uint8)
        start = int(rng.integers(0, 8))
        pixels[start : start + 8, start : start + 8, k] = 255
        Image.fromarray(pixels).save(root / f"c{k}" / f"img{i}.png")
    return root


def train_command(folder: Path, run: Path, epochs: int) -> list[str]:
    return [
        sys.executable, "-m", "infohier_cli", "--quiet", "train", str(folder), "--run", str(run),
        "--epochs", str(epochs), "--batch-size", "8", "--image-size", "16", "--width", "8",
        "--warmup-epochs", "1", "--device", "cpu", "--workers", "0", "--seed", "0",
    ]  # fmt: skip


def final_state(run: Path) -> tuple[dict, dict]:
    state = torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=True)
    with np.load(run / "embeddings.npz") as data:
        arrays = {key: data[key] for key in data.files}
    return state["model"], arrays


def identical(a: tuple[dict, dict], b: tuple[dict, dict]) -> tuple[bool, bool]:
    weights = a[0].keys() == b[0].keys() and all(torch.equal(a[0][k], b[0][k]) for k in a[0])
    arrays = a[1].keys() == b[1].keys() and all(np.array_equal(a[1][k], b[1][k]) for k in a[1])
    return weights, arrays


def run_to_the_end(folder: Path, run: Path, epochs: int) -> int:
    """Resume (or restart, if nothing was saved) until the run finishes; -> last exit code."""
    command = train_command(folder, run, epochs)
    resume = ["--resume"] if (run / "checkpoint.pt").exists() else []
    return subprocess.run(command + resume, capture_output=True).returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = make_images(root / "images", args.images)
        started = time.perf_counter()
        subprocess.run(train_command(folder, root / "straight", args.epochs), check=True)
        duration = time.perf_counter() - started
        reference = final_state(root / "straight")
        print(f"straight run: {duration:.1f} s, {args.epochs} epochs, {args.images} images\n")
        print("| trial | signal | at s | exit | epoch saved | resume exit | weights | embeddings |")
        print("|---|---|---|---|---|---|---|---|")
        same = usable = 0
        for trial in range(args.trials):
            sig = signal.SIGKILL if trial % 2 == 0 else signal.SIGINT
            run = root / f"trial{trial}"
            moment = float(rng.uniform(0.05, 0.95)) * duration
            process = subprocess.Popen(
                train_command(folder, run, args.epochs),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                # a background job inherits SIGINT ignored; Ctrl-C is what is measured
                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
            )
            time.sleep(moment)
            process.send_signal(sig)
            code = process.wait()
            saved = "-"
            if (run / "checkpoint.pt").exists():
                state = torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=True)
                saved = str(state["epoch"])
            resumed = run_to_the_end(folder, run, args.epochs)
            tree = subprocess.run(
                [sys.executable, "-m", "infohier_cli", "-q", "tree", "--run", str(run),
                 "--out", str(run.parent / f"tree{trial}.nwk")],
                capture_output=True,
            ).returncode  # fmt: skip
            usable += resumed == 0 and tree == 0
            weights, arrays = identical(final_state(run), reference) if resumed == 0 else (0, 0)
            same += bool(weights and arrays)
            print(
                f"| {trial + 1} | {sig.name} | {moment:.2f} | {code} | {saved} | {resumed} | "
                f"{'identical' if weights else 'DIFFERENT'} | "
                f"{'identical' if arrays else 'DIFFERENT'} |"
            )
        print(
            f"\nbit-identical to the straight run: {same}/{args.trials}; "
            f"run folders usable after the fault: {usable}/{args.trials}"
        )


if __name__ == "__main__":
    main()
