"""Images in: find them under a folder, load any format to a C x S x S tensor in [0, 1].

Discovery: recursive, follows folder symlinks once (a loop cannot hang or duplicate), skips
hidden files and folders, keeps the extensions in `IMAGE_SUFFIXES` in any letter case and
ignores everything else. Names are paths relative to the folder with `/` separators, exactly
as on disk, sorted.

Loading rules (one per concern, all documented in the README):
- pixels: TIFFs through tifffile (every page / sample / channel axis becomes a channel),
  other formats through Pillow without any lossy `convert` of deep data; alpha is composited
  over black; palette and CMYK become RGB.
- intensity: 'auto' divides 8-bit data by 255 and scales anything deeper (16-bit, 32-bit,
  float) per channel between its 0.5th and 99.5th percentile; 'percentile' does that for
  every image; 'fixed' divides integers by their dtype's maximum and clips floats to [0, 1].
- aspect ratio: the largest centred square is cropped, then resized to S x S (antialiased).
- channels: 'gray' (1), 'rgb' (3) or N; 'auto' takes the most common channel count of a
  sample of the folder. Conversion: RGB -> gray by luminance, 1 -> N by repetition, more
  channels than wanted keeps the first ones, fewer pads with zeros.
A file that cannot be read is reported (path, reason) and left out; the run goes on.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from infohier_cli.errors import UserError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp"})
LUMINANCE = (0.299, 0.587, 0.114)
PERCENTILES = (0.5, 99.5)
SHAPE_SAMPLE = 64  # images looked at to pick the channel count and size
AUTO_SIZE_MIN, AUTO_SIZE_MAX = 16, 32


def discover_images(root: Path) -> list[str]:
    """Relative `/`-separated paths of every image under `root`, sorted.

    Raises UserError when `root` is missing, is not a folder, or holds no image.
    """
    root = Path(root)
    if not root.exists():
        raise UserError(f"no such folder: {root}")
    if not root.is_dir():
        raise UserError(f"not a folder: {root}")
    found: list[str] = []
    seen_dirs: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        stat = os.stat(dirpath)
        if (stat.st_dev, stat.st_ino) in seen_dirs:
            dirnames[:] = []
            continue
        seen_dirs.add((stat.st_dev, stat.st_ino))
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        rel_dir = os.path.relpath(dirpath, root)
        for name in filenames:
            if name.startswith(".") or os.path.splitext(name)[1].lower() not in IMAGE_SUFFIXES:
                continue
            rel = name if rel_dir == "." else os.path.join(rel_dir, name)
            found.append(rel.replace(os.sep, "/"))
    if not found:
        suffixes = ", ".join(sorted(s.lstrip(".") for s in IMAGE_SUFFIXES))
        raise UserError(f"no images found in {root} (looked for {suffixes})")
    return sorted(found)


def read_pixels(path: Path) -> np.ndarray:
    """The raw pixels of an image file as a C x H x W array in its own dtype."""
    if path.suffix.lower() in (".tif", ".tiff"):
        return _read_tiff(path)
    return _read_pillow(path)


def _read_tiff(path: Path) -> np.ndarray:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        pixels = series.asarray()
        axes = series.axes
    if "Y" not in axes or "X" not in axes:
        raise ValueError(f"TIFF without Y/X axes ({axes})")
    order = [axes.index(a) for a in axes if a not in "YX"] + [axes.index("Y"), axes.index("X")]
    pixels = np.transpose(pixels, order)
    return pixels.reshape(-1, *pixels.shape[-2:])


def _read_pillow(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as img:
        img.seek(0)
        img.load()
        if img.mode == "1":
            img = img.convert("L")
        elif img.mode in ("P", "PA"):
            img = img.convert("RGBA")
        elif img.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
            img = img.convert("RGB")
        if img.mode in ("RGBA", "LA", "RGBa", "La"):
            img = _over_black(img)
        pixels = np.asarray(img)
    if pixels.ndim == 2:
        return pixels[None]
    return np.moveaxis(pixels, -1, 0)


def _over_black(img):
    """Composite an image with alpha over a black background; keeps L or RGB."""
    from PIL import Image

    target = "L" if img.mode in ("LA", "La") else "RGB"
    rgba = img.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
    return Image.alpha_composite(background, rgba).convert(target)


def to_unit_range(values, dtype: np.dtype, intensity: str):
    """Float32 C x H x W tensor in [0, 1] from raw values read as `dtype` (module docstring)."""
    import torch

    if intensity == "auto":
        intensity = "fixed" if dtype in (np.uint8, np.bool_) else "percentile"
    if intensity == "fixed":
        if np.issubdtype(dtype, np.integer):
            values = values / float(np.iinfo(dtype).max)
        return values.clamp_(0.0, 1.0)
    flat = values.reshape(values.shape[0], -1)
    q = torch.tensor([p / 100.0 for p in PERCENTILES])
    lo, hi = torch.quantile(flat, q.to(flat.dtype), dim=1)[:, :, None, None].unbind(0)
    span = hi - lo
    scaled = (values - lo) / torch.where(span > 0, span, torch.ones_like(span))
    return scaled.clamp_(0.0, 1.0)


def square_resize(image, size: int):
    """Crop the largest centred square of a C x H x W tensor and resize it to C x S x S."""
    import torch.nn.functional as F

    _, h, w = image.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = image[:, top : top + side, left : left + side]
    if side == size:
        return square.contiguous()
    resized = F.interpolate(square[None], size=(size, size), mode="bilinear",
                            antialias=side > size, align_corners=False)
    return resized[0]


def match_channels(image, channels: int):
    """Convert a C x S x S tensor to `channels` channels (rules in the module docstring)."""
    import torch

    have = image.shape[0]
    if have == channels:
        return image
    if channels == 1:
        if have in (3, 4):
            weights = torch.tensor(LUMINANCE, dtype=image.dtype)[:, None, None]
            return (image[:3] * weights).sum(0, keepdim=True)
        return image.mean(0, keepdim=True)
    if have == 1:
        return image.expand(channels, -1, -1).contiguous()
    if have > channels:
        return image[:channels].contiguous()
    pad = image.new_zeros(channels - have, *image.shape[1:])
    return torch.cat([image, pad])


@dataclass(frozen=True)
class ImageSpec:
    """How every image of a run is loaded: S, C and the intensity rule."""

    size: int
    channels: int
    intensity: str = "auto"


def load_image(path: Path, spec: ImageSpec):
    """One image as a float32 tensor of shape (spec.channels, spec.size, spec.size)."""
    pixels = read_pixels(Path(path))
    if pixels.ndim != 3 or min(pixels.shape[1:]) < 1:
        raise ValueError(f"unexpected pixel array of shape {pixels.shape}")
    import torch

    raw = torch.from_numpy(np.nan_to_num(pixels.astype(np.float32)))
    image = to_unit_range(square_resize(raw, spec.size), pixels.dtype, spec.intensity)
    return match_channels(image, spec.channels)


def describe_error(error: Exception) -> str:
    """A short, one-line reason for a failed read."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def sample_shapes(root: Path, paths: Sequence[str]) -> list[tuple[int, int, int]]:
    """(C, H, W) of up to SHAPE_SAMPLE evenly spaced readable images of the folder."""
    step = max(1, len(paths) // SHAPE_SAMPLE)
    shapes = []
    for rel in paths[::step][:SHAPE_SAMPLE]:
        try:
            shapes.append(tuple(read_pixels(root / rel).shape))
        except Exception:  # unreadable files are reported later, by the loading pass
            continue
    return shapes


def resolve_channels(policy: str, shapes: Sequence[tuple[int, int, int]]) -> int:
    """The channel count for a run: from the policy, or for 'auto' the most common count
    among the sampled `shapes` (ties go to the larger count; 1 if none was readable)."""
    if policy == "gray":
        return 1
    if policy == "rgb":
        return 3
    if policy.isdigit():
        return int(policy)
    counts = Counter(shape[0] for shape in shapes)
    if not counts:
        return 1
    return max(counts, key=lambda c: (counts[c], c))


def resolve_image_size(requested: int, shapes: Sequence[tuple[int, int, int]]) -> int:
    """The side S images are resized to: `requested`, or for 0 ('auto') twice the median
    short side of the sampled images, rounded up to a multiple of 8 and kept within
    [AUTO_SIZE_MIN, AUTO_SIZE_MAX]: small images are not blown up past 2x (it adds compute,
    not information), large ones are reduced to what the CPU can train on."""
    if requested:
        return requested
    if not shapes:
        return AUTO_SIZE_MAX
    side = float(np.median([min(shape[1:]) for shape in shapes]))
    return int(min(AUTO_SIZE_MAX, max(AUTO_SIZE_MIN, 8 * np.ceil(2 * side / 8))))


def resolve_spec(root: Path, paths: Sequence[str], channel_policy: str, requested_size: int,
                 intensity: str = "auto") -> ImageSpec:
    """The ImageSpec of a new run: channels from `channel_policy`, size from
    `requested_size` (0 = auto); the folder is sampled only when one of them is 'auto'."""
    needs_sample = channel_policy == "auto" or requested_size == 0
    shapes = sample_shapes(root, paths) if needs_sample else []
    return ImageSpec(resolve_image_size(requested_size, shapes),
                     resolve_channels(channel_policy, shapes), intensity)


class _TryLoad:
    """Dataset wrapper that returns (index, tensor or None, reason) instead of raising."""

    def __init__(self, root: Path, paths: Sequence[str], spec: ImageSpec):
        self.root, self.paths, self.spec = root, list(paths), spec

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        try:
            return index, load_image(self.root / self.paths[index], self.spec), ""
        except Exception as error:  # any decoder failure means "skip this file"
            return index, None, describe_error(error)


class ImageFolder:
    """The readable images of a folder; `dataset[i]` is a (C, S, S) float32 tensor.

    Holds the decoded tensors in memory when they fit the cache budget, else decodes
    on demand (every file was already decoded once by `scan_folder`).
    """

    def __init__(self, root: Path, paths: list[str], spec: ImageSpec, cache=None):
        self.root, self.paths, self.spec, self.cache = Path(root), paths, spec, cache

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        if self.cache is not None:
            return self.cache[index]
        return load_image(self.root / self.paths[index], self.spec)


def scan_folder(
    root: Path,
    paths: Sequence[str],
    spec: ImageSpec,
    *,
    workers: int = 0,
    cache_bytes: int = 2 << 30,
    warn: Callable[[str], None] = print,
    progress: bool = True,
) -> tuple[ImageFolder, list[tuple[str, str]]]:
    """Decode every image once; return the readable ones and the skipped (path, reason)."""
    import torch
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    root = Path(root)
    per_image = spec.channels * spec.size * spec.size * 4
    keep_cache = per_image * len(paths) <= cache_bytes
    loader = DataLoader(_TryLoad(root, paths, spec), batch_size=32, num_workers=workers,
                        collate_fn=list)
    kept: list[str] = []
    tensors = []
    skipped: list[tuple[str, str]] = []
    bar = tqdm(total=len(paths), desc="reading images", unit="img", disable=not progress,
               leave=False)
    for batch in loader:
        for index, image, reason in batch:
            if image is None:
                skipped.append((paths[index], reason))
                warn(f"warning: skipped unreadable file {paths[index]!r} ({reason})")
                continue
            kept.append(paths[index])
            if keep_cache:
                tensors.append(image)
        bar.update(len(batch))
    bar.close()
    if skipped:
        warn(f"warning: skipped {len(skipped)} unreadable file(s) of {len(paths)}")
    if not kept:
        raise UserError(f"none of the {len(paths)} image file(s) in {root} could be read")
    cache = torch.stack(tensors) if keep_cache else None
    return ImageFolder(root, kept, spec, cache), skipped


def write_skipped(run_dir: Path, skipped: Sequence[tuple[str, str]]) -> None:
    """Record the skipped files as `skipped.txt` (path<TAB>reason per line) in the run folder."""
    from infohier_cli.atomic import atomic_open

    with atomic_open(Path(run_dir) / "skipped.txt", "w", encoding="utf-8",
                     errors="surrogateescape") as handle:
        for path, reason in skipped:
            handle.write(f"{path}\t{reason}\n")
