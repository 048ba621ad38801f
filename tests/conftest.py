"""Shared helpers: small image folders generated in tmp_path (no shipped or external data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def blob_image(kind: int, rng: np.random.Generator, size: int = 16) -> np.ndarray:
    """An 8-bit RGB picture whose bright square sits in colour channel `kind` (0, 1, 2)."""
    pixels = rng.integers(0, 50, (size, size, 3), dtype=np.uint8)
    start = int(rng.integers(0, size // 2))
    pixels[start : start + size // 2, start : start + size // 2, kind % 3] = 255
    return pixels


def make_folder(root: Path, per_class: int = 6, classes: int = 3, size: int = 16) -> Path:
    """root/c{k}/img{i}.png with `classes` visually distinct classes."""
    rng = np.random.default_rng(0)
    for k in range(classes):
        (root / f"c{k}").mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(blob_image(k, rng, size)).save(root / f"c{k}" / f"img{i}.png")
    return root


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    return make_folder(tmp_path / "images")


TINY_TRAIN = [
    "--epochs",
    "2",
    "--batch-size",
    "8",
    "--image-size",
    "16",
    "--width",
    "8",
    "--warmup-epochs",
    "1",
    "--device",
    "cpu",
]
