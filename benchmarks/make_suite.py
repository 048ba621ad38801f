"""Build the development suite: labelled image folders of different kinds, one command.

usage: python benchmarks/make_suite.py OUT [--only NAME ...] [--seed 0] [--per-class N]

Every folder is OUT/NAME/ with images under <superclass>/<class>/ and a labels.csv
(path,class,superclass) used only to score trees (benchmarks/quality.py); infohier never
reads the labels. Deterministic for a given --seed. Folders:

- digits    real 8x8 handwritten digits drawn at 32 px (../shared/datasets/make_digits.py),
            10 digits in 3 stroke families; 1,797 images, 8-bit gray.
- photos    48-px patches cut near fixed points of the photographs scikit-learn and
            matplotlib ship (china, flower, grace_hopper); class = the place in the
            photograph, superclass = the photograph; 4 places x 3 photos x 30, 8-bit RGB.
- shapes    drawn shapes at random position, size and rotation on a noisy shaded
            background; class = shape, superclass = family (polygons, round, strokes);
            9 shapes x 35, 8-bit gray, 48 px.
- textures  procedural textures; class = pattern, superclass = kind (oriented, stochastic);
            6 patterns x 40, 8-bit gray, 48 px.
- cells16   synthetic fluorescence micrographs, 16-bit, 3 channels (nucleus, cytoplasm
            marker, spots) in one TIFF each; superclass = nuclear shape (round, elongated),
            class = marker pattern (diffuse, punctate, membrane); 6 phenotypes x 45, 64 px,
            random exposure and background per image, like a real plate.
- particles like a flow-imaging (FlowCam) folder: one dark particle per image on a light
            background, each image cropped to the particle's bounding box plus a margin, so
            the images differ in size (about 20-130 px) and aspect ratio; superclass = form
            (elongated, round), class = particle type (chain, rod, ciliate; disc, spiny,
            colony); 6 types x 40, 8-bit gray, near-horizontal or near-vertical as in a
            flow cell.
- glyphs    capital letters printed in the fonts matplotlib ships (DejaVu, STIX, Computer
            Modern: 12 faces) at random size, position and a small tilt, dark on light
            paper with shading and noise; class = letter, superclass = stroke kind
            (round: C G O S, straight: E H L T, diagonal: A K V X); 12 letters x 30,
            8-bit gray, 40 px. Added in session 14, after every default was set, as a
            folder no default was chosen on: it has an "up", like digits.
- frames    the photos' patches (same photographs, places and labels) cut with varied aspect
            ratio: width / height log-uniform in [1/2, 2], area about 48^2; 360 images. Added
            in session 17 as a non-square folder whose content fills the frame, unlike
            particles'.
- materials texture photographs, as patches cut from photographs of surfaces: the
            seamless photographed patterns GIMP ships (Debian's gimp-data, read from
            /usr/share/gimp/2.0/patterns or fetched with apt-get; bookworm's 2.10.34 in
            session 36), tiled, cut at random offsets and made gray; class = the
            photograph, superclass = the material (stone, wood, soft); 12 photographs x
            30, 8-bit gray, 48 px. Added in session 36, after every default was set, as
            the suite's only real texture photographs: classes differ in texture
            statistics, not in shape.

Needs the `bench` extra (scikit-learn) and matplotlib (a dependency of infohier).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import struct
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image, ImageDraw, ImageFilter

HERE = Path(__file__).resolve().parent
MAKE_DIGITS = HERE.parent.parent / "shared" / "datasets" / "make_digits.py"

Sample = tuple[str, str, np.ndarray]  # (superclass, class, image array)


def _write_folder(out: Path, samples: Iterator[Sample], suffix: str) -> int:
    """Save every sample as out/<superclass>/<class>/<class>_NNN<suffix>; write labels.csv."""
    rows, counts = [], {}
    for superclass, name, image in samples:
        index = counts.get(name, 0)
        counts[name] = index + 1
        rel = f"{superclass}/{name}/{name}_{index:03d}{suffix}"
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".tif":
            tifffile.imwrite(path, image, photometric="minisblack")
        else:
            Image.fromarray(image).save(path)
        rows.append((rel, name, superclass))
    with open(out / "labels.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "class", "superclass"])
        writer.writerows(rows)
    return len(rows)


def _nested(
    hierarchy: dict[str, Iterable[str]], draw: Callable[[str], np.ndarray], per_class: int
) -> Iterator[Sample]:
    """`per_class` samples of every class of `hierarchy` (superclass -> its classes), in
    that order, each image `draw(class)`."""
    for superclass, names in hierarchy.items():
        for name in names:
            for _ in range(per_class):
                yield superclass, name, draw(name)


def _to_u8(image: np.ndarray) -> np.ndarray:
    return np.clip(image * 255.0, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- photos
def photo_samples(
    rng: np.random.Generator, per_class: int = 30, size: int = 48, aspect: float = 1.0
) -> Iterator[Sample]:
    """Patches jittered by up to ±size/2 around four fixed places of each photograph; with
    `aspect` > 1 each patch's width / height is drawn log-uniform in [1/aspect, aspect]
    (area about size²), else every patch is size x size."""
    import matplotlib.cbook
    from sklearn.datasets import load_sample_images

    bundle = load_sample_images()
    photos = {
        Path(name).stem: image for name, image in zip(bundle.filenames, bundle.images, strict=True)
    }
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as handle:
        photos["grace_hopper"] = np.asarray(Image.open(handle).convert("RGB"))
    for photo, image in photos.items():
        h, w = image.shape[:2]
        places = [(int(h * fy), int(w * fx)) for fy in (0.25, 0.6) for fx in (0.3, 0.7)]
        for place, (cy, cx) in enumerate(places):
            for _ in range(per_class):
                ratio = float(np.exp(rng.uniform(-1, 1) * np.log(aspect))) if aspect > 1 else 1
                ph, pw = round(size / np.sqrt(ratio)), round(size * np.sqrt(ratio))
                y = cy - ph // 2 + int(rng.integers(-size // 2, size // 2 + 1))
                x = cx - pw // 2 + int(rng.integers(-size // 2, size // 2 + 1))
                y, x = np.clip(y, 0, h - ph), np.clip(x, 0, w - pw)
                yield photo, f"{photo}_p{place}", image[y : y + ph, x : x + pw].copy()


# ---------------------------------------------------------------- shapes
def _polygon(
    sides: int, radius: float, angle: float, cx: float, cy: float, star: bool = False
) -> list[tuple[float, float]]:
    count = sides * (2 if star else 1)
    points = []
    for i in range(count):
        r = radius * (0.45 if star and i % 2 else 1.0)
        a = angle + 2 * np.pi * i / count
        points.append((cx + r * np.cos(a), cy + r * np.sin(a)))
    return points


def _draw_shape(kind: str, rng: np.random.Generator, size: int) -> np.ndarray:
    scale = 4  # draw large, then downsample: anti-aliased edges
    big = size * scale
    canvas = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(canvas)
    radius = big * rng.uniform(0.22, 0.34)
    cx, cy = (big / 2 + rng.uniform(-0.12, 0.12) * big for _ in range(2))
    angle = rng.uniform(0, 2 * np.pi)
    stroke = int(big * 0.06)
    box = (cx - radius, cy - radius, cx + radius, cy + radius)
    if kind in ("triangle", "square", "hexagon"):
        sides = {"triangle": 3, "square": 4, "hexagon": 6}[kind]
        draw.polygon(_polygon(sides, radius, angle, cx, cy), fill=255)
    elif kind == "disc":
        draw.ellipse(box, fill=255)
    elif kind == "ring":
        draw.ellipse(box, outline=255, width=stroke)
    elif kind == "crescent":
        draw.ellipse(box, fill=255)
        dx, dy = radius * 0.5 * np.cos(angle), radius * 0.5 * np.sin(angle)
        draw.ellipse((box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy), fill=0)
    else:  # strokes: plus, asterisk, bars
        arms = {"plus": 2, "asterisk": 3}.get(kind)
        if arms:
            for i in range(arms):
                a = angle + np.pi * i / arms
                dx, dy = radius * np.cos(a), radius * np.sin(a)
                draw.line((cx - dx, cy - dy, cx + dx, cy + dy), fill=255, width=stroke)
        else:
            for offset in (-0.5, 0.0, 0.5):
                ox, oy = offset * radius * np.sin(angle), -offset * radius * np.cos(angle)
                dx, dy = radius * np.cos(angle), radius * np.sin(angle)
                draw.line(
                    (cx + ox - dx, cy + oy - dy, cx + ox + dx, cy + oy + dy), fill=255, width=stroke
                )
    mask = np.asarray(canvas.resize((size, size), Image.LANCZOS), dtype=np.float64) / 255.0
    yy, xx = np.mgrid[0:size, 0:size] / size
    background = (
        rng.uniform(0.1, 0.3)
        + rng.uniform(-0.15, 0.15) * (xx - 0.5)
        + rng.uniform(-0.15, 0.15) * (yy - 0.5)
    )
    foreground = rng.uniform(0.6, 0.95)
    image = background * (1 - mask) + foreground * mask + rng.normal(0, 0.04, (size, size))
    return _to_u8(image)


SHAPES = {
    "polygons": ("triangle", "square", "hexagon"),
    "round": ("disc", "ring", "crescent"),
    "strokes": ("plus", "asterisk", "bars"),
}


def shape_samples(
    rng: np.random.Generator, per_class: int = 35, size: int = 48
) -> Iterator[Sample]:
    yield from _nested(SHAPES, lambda kind: _draw_shape(kind, rng, size), per_class)


# ---------------------------------------------------------------- textures
def _smooth_noise(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    noise = Image.fromarray(_to_u8(rng.uniform(0, 1, (size, size))))
    blurred = np.asarray(noise.filter(ImageFilter.GaussianBlur(sigma)), dtype=np.float64)
    blurred -= blurred.mean()
    return blurred / (blurred.std() + 1e-9)


def _texture(kind: str, rng: np.random.Generator, size: int) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    phase = rng.uniform(0, 2 * np.pi)
    if kind in ("stripes", "weave", "checker"):
        period = rng.uniform(5.0, 8.0)
        angle = rng.uniform(-0.3, 0.3) + (np.pi / 4 if kind == "weave" else 0.0)
        u = xx * np.cos(angle) + yy * np.sin(angle)
        v = -xx * np.sin(angle) + yy * np.cos(angle)
        wave = np.sin(2 * np.pi * u / period + phase)
        if kind == "checker":
            wave = wave * np.sin(2 * np.pi * v / period + phase)
        elif kind == "weave":
            wave = np.where(
                np.sin(2 * np.pi * v / (2 * period)) > 0,
                wave,
                np.sin(2 * np.pi * v / period + phase),
            )
        image = 0.5 + 0.35 * wave
    elif kind == "grain":
        image = 0.5 + 0.18 * _smooth_noise(rng, size, 0.8)
    elif kind == "blobs":
        image = 0.5 + 0.2 * _smooth_noise(rng, size, 3.5)
    else:  # dots
        image = np.full((size, size), 0.3)
        for _ in range(int(rng.integers(10, 18))):
            cy, cx = rng.uniform(0, size, 2)
            r = rng.uniform(1.5, 3.0)
            image = np.maximum(
                image, 0.3 + 0.5 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
            )
    contrast = rng.uniform(0.7, 1.2)
    image = 0.5 + contrast * (image - 0.5) + rng.uniform(-0.1, 0.1)
    return _to_u8(image + rng.normal(0, 0.03, (size, size)))


TEXTURES = {"oriented": ("stripes", "weave", "checker"), "stochastic": ("grain", "blobs", "dots")}


def texture_samples(
    rng: np.random.Generator, per_class: int = 40, size: int = 48
) -> Iterator[Sample]:
    yield from _nested(TEXTURES, lambda pattern: _texture(pattern, rng, size), per_class)


# ---------------------------------------------------------------- cells (16-bit, 3 channels)
def _cell(nucleus: str, marker: str, rng: np.random.Generator, size: int) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    cy, cx = size / 2 + rng.uniform(-6, 6, 2)
    angle = rng.uniform(0, np.pi)
    u = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
    v = -(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)
    cell_r = rng.uniform(19, 25)
    cell = np.hypot(u / 1.1, v) / cell_r  # < 1 inside the cell
    if nucleus == "round":
        a = b = rng.uniform(7, 9)
    else:
        a, b = rng.uniform(11, 14), rng.uniform(4.5, 6)
    nuc = np.hypot(u / a, v / b)
    dna = np.clip(1.2 - nuc, 0, 1) ** 0.7 * (1 + 0.15 * _smooth_noise(rng, size, 1.5))
    inside = (cell < 1).astype(np.float64)
    if marker == "diffuse":
        mark = inside * (0.6 + 0.1 * _smooth_noise(rng, size, 2.0))
        spots = np.zeros_like(mark)
    elif marker == "punctate":
        mark = inside * 0.15
        spots = np.zeros_like(mark)
        for _ in range(int(rng.integers(12, 20))):
            r, t = cell_r * np.sqrt(rng.uniform(0.1, 0.85)), rng.uniform(0, 2 * np.pi)
            sy, sx = cy + r * np.sin(t), cx + r * np.cos(t)
            spots += np.exp(-((yy - sy) ** 2 + (xx - sx) ** 2) / (2 * 1.3**2))
    else:  # membrane
        mark = np.exp(-((cell - 1.0) ** 2) / (2 * 0.06**2)) * 0.9
        spots = np.zeros_like(mark)
    gain = rng.uniform(0.5, 1.0)
    background = rng.uniform(300, 1500)
    channels = []
    for signal, peak in (
        (dna, 40000),
        (mark, 25000),
        (np.clip(spots, 0, 1) + 0.05 * inside, 30000),
    ):
        image = background + gain * peak * signal
        image = rng.poisson(np.clip(image, 0, None) / 8.0) * 8.0 + rng.normal(0, 60, image.shape)
        channels.append(np.clip(image, 0, 65535).astype(np.uint16))
    return np.stack(channels)  # (3, S, S) uint16


PHENOTYPES = {
    "round": ("diffuse", "punctate", "membrane"),
    "elongated": ("diffuse", "punctate", "membrane"),
}


def cell_samples(rng: np.random.Generator, per_class: int = 45, size: int = 64) -> Iterator[Sample]:
    for nucleus, markers in PHENOTYPES.items():
        for marker in markers:
            for _ in range(per_class):
                yield nucleus, f"{nucleus}_{marker}", _cell(nucleus, marker, rng, size)


# ---------------------------------------------------------------- particles (variable size)
def _flow_angle(rng: np.random.Generator) -> float:
    """Particles in a flow cell lie near the flow axis or across it: 0 or 90 deg, +-15."""
    return float(rng.choice([0.0, np.pi / 2]) + rng.uniform(-0.26, 0.26))


def _rotated_ellipse(
    draw: ImageDraw.ImageDraw, cx: float, cy: float, half_len: float, half_wid: float, angle: float
) -> None:
    t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    u, v = half_len * np.cos(t), half_wid * np.sin(t)
    xs, ys = cx + u * np.cos(angle) - v * np.sin(angle), cy + u * np.sin(angle) + v * np.cos(angle)
    draw.polygon(list(zip(xs.tolist(), ys.tolist(), strict=True)), fill=255)


def _particle_mask(kind: str, rng: np.random.Generator, scale: int) -> Image.Image:
    """The particle drawn `scale` times too large on a canvas with room to spare."""
    big = 160 * scale
    canvas = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(canvas)
    c = big / 2
    angle = _flow_angle(rng)
    axis = np.array([np.cos(angle), np.sin(angle)])
    if kind == "chain":
        count, length = int(rng.integers(3, 8)), rng.uniform(10, 16)
        width = rng.uniform(9, 14)
        for k in range(count):
            offset = (k - (count - 1) / 2) * (length + 1.5) * scale
            centre = c + offset * axis
            _rotated_ellipse(draw, *centre, length * scale / 2, width * scale / 2, angle)
    elif kind == "rod":
        length, width = rng.uniform(50, 110) * scale, rng.uniform(4, 7) * scale
        a, b = c - axis * length / 2, c + axis * length / 2
        draw.line([tuple(a), tuple(b)], fill=255, width=int(width))
        for end in (a, b):
            draw.ellipse([*(end - width / 2), *(end + width / 2)], fill=255)
    elif kind == "ciliate":
        half_len, half_wid = rng.uniform(15, 25) * scale, rng.uniform(8, 13) * scale
        for t in np.linspace(0, 2 * np.pi, 40, endpoint=False):
            u, v = np.cos(t), np.sin(t)
            inner = np.array([half_len * u, half_wid * v])
            outer = inner * (1 + 3.5 * scale / np.hypot(*inner))
            rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
            draw.line([tuple(c + rot @ inner), tuple(c + rot @ outer)], fill=255, width=scale)
        _rotated_ellipse(draw, c, c, half_len, half_wid, angle)
    elif kind == "disc":
        r = rng.uniform(12, 25) * scale
        draw.ellipse([c - r, c - r, c + r, c + r], fill=255)
    elif kind == "spiny":
        r = rng.uniform(7, 12) * scale
        spines = int(rng.integers(8, 15))
        for t in rng.uniform(0, 2 * np.pi) + np.linspace(0, 2 * np.pi, spines, endpoint=False):
            reach = r + rng.uniform(10, 20) * scale
            tip = (c + reach * np.cos(t), c + reach * np.sin(t))
            draw.line([(c, c), tip], fill=255, width=max(1, scale * 3 // 2))
        draw.ellipse([c - r, c - r, c + r, c + r], fill=255)
    else:  # colony
        spread = rng.uniform(12, 20) * scale
        for _ in range(int(rng.integers(6, 16))):
            r = rng.uniform(2.5, 4.5) * scale
            radius, t = spread * np.sqrt(rng.uniform(0, 1)), rng.uniform(0, 2 * np.pi)
            x, y = c + radius * np.cos(t), c + radius * np.sin(t)
            draw.ellipse([x - r, y - r, x + r, y + r], fill=255)
    return canvas


def _particle(kind: str, rng: np.random.Generator) -> np.ndarray:
    """One particle image cropped to its bounding box plus a 3-8 px margin. -> (H, W) uint8."""
    scale = 4
    canvas = _particle_mask(kind, rng, scale)
    left, top, right, bottom = canvas.getbbox()
    margin = int(rng.integers(3, 9)) * scale
    box = (left - margin, top - margin, right + margin, bottom + margin)
    box = tuple(scale * round(v / scale) for v in box)
    crop = canvas.crop(box)
    size = (crop.width // scale, crop.height // scale)
    mask = np.asarray(crop.resize(size, Image.LANCZOS), dtype=np.float64) / 255.0
    h, w = mask.shape
    background = rng.uniform(0.72, 0.86) + 0.03 * _smooth_noise(rng, max(h, w), 4.0)[:h, :w]
    body = rng.uniform(0.2, 0.45) + 0.08 * _smooth_noise(rng, max(h, w), 1.0)[:h, :w]
    image = background * (1 - mask) + body * mask + rng.normal(0, 0.02, (h, w))
    return _to_u8(image)


PARTICLES = {"elongated": ("chain", "rod", "ciliate"), "round": ("disc", "spiny", "colony")}


def particle_samples(rng: np.random.Generator, per_class: int = 40) -> Iterator[Sample]:
    yield from _nested(PARTICLES, lambda kind: _particle(kind, rng), per_class)


# ---------------------------------------------------------------- glyphs
GLYPHS = {"round": "CGOS", "straight": "EHLT", "diagonal": "AKVX"}
GLYPH_FACES = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf", "DejaVuSansMono.ttf", "STIXGeneral.ttf", "STIXGeneralBol.ttf",
    "cmr10.ttf", "cmss10.ttf", "cmtt10.ttf", "cmb10.ttf",
)  # fmt: skip


def _glyph(letter: str, rng: np.random.Generator, size: int) -> np.ndarray:
    """One printed letter: a random face of GLYPH_FACES, 45-80 % of the image high, tilted
    by up to 12 degrees, off centre by up to 10 %, on shaded, noisy paper."""
    from matplotlib import get_data_path
    from PIL import ImageFont

    big = 4 * size  # drawn large, then reduced: smooth edges
    face = Path(get_data_path()) / "fonts" / "ttf" / GLYPH_FACES[rng.integers(len(GLYPH_FACES))]
    font = ImageFont.truetype(str(face), int(big * rng.uniform(0.45, 0.8)))
    ink = Image.new("L", (big, big), 0)
    ImageDraw.Draw(ink).text((big / 2, big / 2), letter, fill=255, font=font, anchor="mm")
    shift = tuple(int(v) for v in rng.uniform(-0.1, 0.1, 2) * big)
    ink = ink.rotate(rng.uniform(-12, 12), resample=Image.BILINEAR, translate=shift)
    ink = ink.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.0)))
    ink = np.asarray(ink.resize((size, size), Image.LANCZOS), dtype=np.float64) / 255.0
    ramp = np.linspace(-1, 1, size)
    paper = rng.uniform(0.75, 0.95) + rng.uniform(-0.08, 0.08) * ramp[None, :]
    paper = paper + rng.uniform(-0.08, 0.08) * ramp[:, None]
    darkness = rng.uniform(0.5, 0.8)
    image = paper - darkness * ink + rng.normal(0.0, 0.04, (size, size))
    return _to_u8(image)


def glyph_samples(
    rng: np.random.Generator, per_class: int = 30, size: int = 40
) -> Iterator[Sample]:
    yield from _nested(GLYPHS, lambda letter: _glyph(letter, rng, size), per_class)


# ---------------------------------------------------------------- materials
MATERIALS = {
    "stone": ("granite1", "slate", "rock", "stone33"),
    "wood": ("walnut", "wood1", "wood2", "bark"),
    "soft": ("crinklepaper", "burlap", "leather", "ice"),
}
GIMP_PATTERNS = Path("/usr/share/gimp/2.0/patterns")  # where Debian's gimp-data puts them
GRAY = np.array([0.299, 0.587, 0.114])  # ITU-R 601 luma


def _read_gimp_pattern(path: Path) -> np.ndarray:
    """A GIMP pattern file (.pat): a big-endian header (header size, version, width, height,
    bytes per pixel, 'GPAT', name), then the pixels row by row. -> (H, W) float64 gray in
    [0, 1]."""
    data = path.read_bytes()
    header, _, width, height, depth = struct.unpack(">5I", data[:20])
    pixels = np.frombuffer(data, np.uint8, width * height * depth, header)
    pixels = pixels.reshape(height, width, depth).astype(np.float64)
    return (pixels[..., 0] if depth < 3 else pixels[..., :3] @ GRAY) / 255.0


@contextlib.contextmanager
def _gimp_patterns() -> Iterator[Path]:
    """GIMP's pattern folder: the installed one, else the one in Debian's gimp-data
    package, fetched with apt-get into a temporary folder for the duration."""
    if GIMP_PATTERNS.is_dir():
        yield GIMP_PATTERNS
        return
    with tempfile.TemporaryDirectory() as tmp:
        try:
            subprocess.run(
                ["apt-get", "download", "gimp-data"], cwd=tmp, check=True, capture_output=True
            )
            deb = next(Path(tmp).glob("gimp-data_*.deb"))
            subprocess.run(["dpkg-deb", "-x", str(deb), tmp], check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError, StopIteration) as err:
            sys.exit(f"error: materials needs GIMP's patterns (Debian's gimp-data): {err}")
        yield Path(tmp) / GIMP_PATTERNS.relative_to("/")


def _material_photographs() -> dict[str, np.ndarray]:
    """MATERIALS' photographs, gray, by name."""
    with _gimp_patterns() as patterns:
        return {
            name: _read_gimp_pattern(next(patterns.glob(f"*/{name}.pat")))
            for names in MATERIALS.values()
            for name in names
        }


def material_samples(
    rng: np.random.Generator, per_class: int = 30, size: int = 48
) -> Iterator[Sample]:
    """Gray size x size patches of photographed materials (GIMP's seamless patterns, 64-156
    px, tiled so a patch may start anywhere), each under a random gain (0.7-1.2), offset
    (±0.08) and noise (σ 0.016): like patches cut from texture photographs."""
    photographs = _material_photographs()

    def patch(name: str) -> np.ndarray:
        image = photographs[name]
        h, w = image.shape
        plane = np.tile(image, (size // h + 2, size // w + 2))
        y, x = int(rng.integers(h)), int(rng.integers(w))
        crop = plane[y : y + size, x : x + size]
        crop = crop * rng.uniform(0.7, 1.2) + rng.uniform(-0.08, 0.08)
        return _to_u8(crop + rng.normal(0.0, 0.016, crop.shape))

    yield from _nested(MATERIALS, patch, per_class)


# ---------------------------------------------------------------- driver
def make_digits(out: Path, _rng: np.random.Generator, _per_class: int | None = None) -> int:
    subprocess.run([sys.executable, str(MAKE_DIGITS), str(out)], check=True)
    with open(out / "labels.csv", encoding="utf-8") as handle:
        return sum(1 for _ in handle) - 1


def _generated(
    samples: Callable[..., Iterator[Sample]], suffix: str
) -> Callable[[Path, np.random.Generator, int | None], int]:
    """A folder maker: `samples(rng)`, or `samples(rng, per_class=N)` when N is given."""

    def make(out: Path, rng: np.random.Generator, per_class: int | None = None) -> int:
        sizing = {} if per_class is None else {"per_class": per_class}
        return _write_folder(out, samples(rng, **sizing), suffix)

    return make


FOLDERS: dict[str, Callable[[Path, np.random.Generator, int | None], int]] = {
    "digits": make_digits,
    "photos": _generated(photo_samples, ".png"),
    "shapes": _generated(shape_samples, ".png"),
    "textures": _generated(texture_samples, ".png"),
    "cells16": _generated(cell_samples, ".tif"),
    "particles": _generated(particle_samples, ".png"),
    "glyphs": _generated(glyph_samples, ".png"),
    "frames": _generated(partial(photo_samples, aspect=2.0), ".png"),
    "materials": _generated(material_samples, ".png"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--only", action="append", choices=sorted(FOLDERS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--per-class",
        type=int,
        default=None,
        help="images per class of a generated folder (default: each folder's own count; "
        "larger folders for timings)",
    )
    args = parser.parse_args()
    names = args.only or list(FOLDERS)
    if args.per_class is not None and (args.per_class < 1 or "digits" in names):
        sys.exit("error: --per-class must be at least 1 and applies to the generated folders")
    for name in names:
        out = args.out / name
        if out.exists() and any(out.iterdir()):
            sys.exit(f"error: {out} is not empty; remove it to rebuild")
        out.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng([args.seed, list(FOLDERS).index(name)])
        count = FOLDERS[name](out, rng, args.per_class)
        print(f"{name}: {count} images in {out}")


if __name__ == "__main__":
    main()
