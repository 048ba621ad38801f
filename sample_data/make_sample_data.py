"""Build sample_data/: 240 small RGB pictures with a known two-level hierarchy.

superclass = shape family (round, angular, cross), class = a shape of that family with its
own colour: round/disc (red), round/ring (orange), angular/square (blue),
angular/triangle (cyan), cross/plus (green), cross/x (lime). Each picture has a random
position, size, rotation, colour jitter and background noise. Deterministic (seeded).
labels.csv (path,class,superclass) is for scoring only; infohier never reads it.

usage: python sample_data/make_sample_data.py [OUT]   (default: the folder of this script)
"""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SIZE, DRAW = 32, 128  # drawn large, then downsampled for antialiasing
PER_CLASS = 40
CLASSES = {  # class: (superclass, base colour)
    "disc": ("round", (220, 60, 50)),
    "ring": ("round", (235, 150, 40)),
    "square": ("angular", (50, 90, 220)),
    "triangle": ("angular", (40, 190, 210)),
    "plus": ("cross", (40, 170, 60)),
    "x": ("cross", (170, 220, 40)),
}


def polygon(cx: float, cy: float, radius: float, corners: int, angle: float) -> list:
    return [
        (
            cx + radius * math.cos(angle + 2 * math.pi * i / corners),
            cy + radius * math.sin(angle + 2 * math.pi * i / corners),
        )
        for i in range(corners)
    ]


def draw(shape: str, colour: tuple, rng: np.random.Generator) -> Image.Image:
    noise = rng.integers(0, 40, (DRAW // 4, DRAW // 4, 3), dtype=np.uint8)
    img = Image.fromarray(noise).resize((DRAW, DRAW), Image.BILINEAR)
    pen = ImageDraw.Draw(img)
    r = rng.uniform(0.22, 0.34) * DRAW
    cx, cy = rng.uniform(r + 4, DRAW - r - 4, 2)
    angle = rng.uniform(0, 2 * math.pi)
    fill = tuple(int(np.clip(c + rng.integers(-25, 26), 0, 255)) for c in colour)
    width = int(r * 0.35)
    if shape == "disc":
        pen.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif shape == "ring":
        pen.ellipse([cx - r, cy - r, cx + r, cy + r], outline=fill, width=width)
    elif shape == "square":
        pen.polygon(polygon(cx, cy, r * 1.2, 4, angle), fill=fill)
    elif shape == "triangle":
        pen.polygon(polygon(cx, cy, r * 1.3, 3, angle), fill=fill)
    else:
        turn = angle if shape == "plus" else angle + math.pi / 4
        for a in (turn, turn + math.pi / 2):
            dx, dy = r * 1.2 * math.cos(a), r * 1.2 * math.sin(a)
            pen.line([(cx - dx, cy - dy), (cx + dx, cy + dy)], fill=fill, width=width)
    return img.resize((SIZE, SIZE), Image.LANCZOS)


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    rng = np.random.default_rng(2025)
    rows = []
    for name, (family, colour) in CLASSES.items():
        folder = out / family / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(PER_CLASS):
            rel = f"{family}/{name}/{name}_{i:03d}.png"
            draw(name, colour, rng).save(out / rel, optimize=True)
            rows.append((rel, name, family))
    with open(out / "labels.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "class", "superclass"])
        writer.writerows(rows)
    print(f"{len(rows)} images in {out}")


if __name__ == "__main__":
    main()
