"""Reading images: any format to a C x S x S float32 tensor in [0, 1].

Loading rules (one per concern, all documented in the README):
- pixels: TIFFs through tifffile (every page / sample / channel axis becomes a channel),
  other formats through Pillow without any lossy `convert` of deep data, turned upright by
  their EXIF Orientation tag (as a viewer shows a camera JPEG); alpha is composited over
  black; palette and CMYK become RGB.
- intensity: 'auto' divides 8-bit data by 255 and scales anything deeper (16-bit, 32-bit,
  float) per channel between its 0.5th and 99.5th percentile; 'percentile' does that for
  every image; 'fixed' divides integers by their dtype's maximum and clips floats to [0, 1].
- aspect ratio ('fit'): 'crop' resizes the largest centred square to S x S (antialiased);
  'pad' resizes the whole image so that its long side is S and centres it on an S x S
  square filled with the median of its 1-pixel border (per channel: the background of a
  tight crop around an object); 'auto' takes pad when the sampled non-square images'
  border is background, else crop (data/background.py). Square images are the same either
  way.
- channels: 'gray' (1), 'rgb' (3) or N; 'auto' takes the most common channel count of a
  sample of the folder. Conversion: RGB -> gray by luminance, 1 -> N by repetition, more
  channels than wanted keeps the first ones, fewer pads with zeros.
A sample made of several files stacks their channels (in file order) before the channel
rule applies.
- size: an image with more pixels than `ImageSpec.max_pixels` (default 100 million; each
  group of three channels or pages beyond the first three counts as a further image) is
  not decoded (a decompression bomb) but skipped with that reason; the folder's shapes are read
  from the file headers, so each image is decoded once (but for an auto size: up to
  SHAPE_SAMPLE images stored at the size rule's side or larger are decoded once more to
  judge their detail, data/detail.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from infohier_cli.config import fixed_channels
from infohier_cli.data.samples import Sample, as_samples

if TYPE_CHECKING:
    from infohier_cli.config import TrainConfig

LUMINANCE = (0.299, 0.587, 0.114)
PERCENTILES = (0.5, 99.5)
SHAPE_SAMPLE = 64  # images looked at to pick the channel count and size
AUTO_SIZE_MIN, AUTO_SIZE_MAX, AUTO_SIZE_MAX_CUDA = 16, 32, 64
MAX_PIXELS = 100_000_000
EXIF_ORIENTATION, QUARTER_TURNS = 0x0112, frozenset({5, 6, 7, 8})  # the tag; values that turn
ONE_CHANNEL_MODES = frozenset({"1", "L", "LA", "La", "I", "F", "I;16", "I;16B", "I;16L", "I;16N"})


@contextlib.contextmanager
def quiet_decoders() -> Iterator[None]:
    """While open, the decoders' own warnings are dropped: Pillow's and numpy's (Python
    warnings: "Corrupt EXIF data", say) and tifffile's log records ("invalid offset to
    first page"). They name no file and fall outside the CLI's one-line messages; a file
    that cannot be read raises, and is skipped and reported by name."""
    tiff_log = logging.getLogger("tifffile")
    level = tiff_log.level
    tiff_log.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        tiff_log.setLevel(level)


def read_shape(path: Path) -> tuple[int, int, int]:
    """(C, H, W) that `read_pixels` would return, from the file header only (no decoding)."""
    with quiet_decoders():
        return _read_shape(path)


def _read_shape(path: Path) -> tuple[int, int, int]:
    if path.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        with tifffile.TiffFile(path) as tif:
            shape, axes = tif.series[0].shape, tif.series[0].axes
        if "Y" not in axes or "X" not in axes:
            raise ValueError(f"TIFF without Y/X axes ({axes})")
        sizes = dict(zip(axes, shape, strict=True))
        channels = int(np.prod([n for a, n in sizes.items() if a not in "YX"], dtype=np.int64))
        return channels, sizes["Y"], sizes["X"]
    from PIL import Image

    with _unlimited_pillow(), Image.open(path) as img:
        width, height = img.size
        if _exif_orientation(img) in QUARTER_TURNS:  # exif_transpose swaps them
            width, height = height, width
        return (1 if img.mode in ONE_CHANNEL_MODES else 3), height, width


def _exif_orientation(img) -> int | None:
    """The EXIF Orientation tag of an opened Pillow image, read from the header's EXIF
    block only (`getexif()` would decode a PNG's pixels to look for one after them)."""
    from PIL import Image

    if "exif" not in img.info:
        return None
    tags = Image.Exif()
    tags.load(img.info["exif"])
    return tags.get(EXIF_ORIENTATION)


def check_pixels(path: Path, max_pixels: int) -> None:
    """ValueError (the reason a file is skipped) when the image has more pixels than
    `max_pixels` (0 = no limit), each group of three channels beyond the first three
    (TIFF pages, say) counted as a further image: max(C, 3) / 3 · H · W > max_pixels.
    Read from the header, before any decoding."""
    if not max_pixels:
        return
    channels, height, width = read_shape(path)
    if max(channels, 3) * height * width > 3 * max_pixels:
        planes = f" x {channels} channels or pages" if channels > 3 else ""
        raise ValueError(
            f"{width}x{height} pixels{planes} is over the limit of {max_pixels / 1e6:g} "
            "million (raise it with --max-megapixels)"
        )


class _unlimited_pillow:
    """Pillow's own bomb guard off while open: `check_pixels` applies ours instead."""

    def __enter__(self):
        from PIL import Image

        self.saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None

    def __exit__(self, *exc):
        from PIL import Image

        Image.MAX_IMAGE_PIXELS = self.saved


def read_pixels(path: Path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """The raw pixels of an image file as a C x H x W array in its own dtype; ValueError
    without decoding when it has more than `max_pixels` pixels (0 = no limit)."""
    check_pixels(path, max_pixels)
    with quiet_decoders():
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
    from PIL import Image, ImageOps

    with _unlimited_pillow(), Image.open(path) as img:
        img.seek(0)
        img.load()
        img = ImageOps.exif_transpose(img)  # upright as a viewer shows it (EXIF Orientation)
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


def is_8bit(dtype: np.dtype) -> bool:
    """Whether pixels of `dtype` are 8-bit data (uint8, or bool from 1-bit images)."""
    return dtype in (np.uint8, np.bool_)


def to_unit_range(values, dtype: np.dtype, intensity: str):
    """Float32 C x H x W tensor in [0, 1] from raw values read as `dtype` (module docstring)."""
    import torch

    if intensity == "auto":
        intensity = "fixed" if is_8bit(dtype) else "percentile"
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


def square_resize(image, size: int, fit: str):
    """A C x H x W tensor made square by `fit` (module docstring) and resized to C x S x S.

    'crop': the centred min(H, W) square, resized to S x S. 'pad': the image resized so its
    long side is S (the aspect ratio kept, the short side rounded, at least 1), centred on
    an S x S square whose other pixels hold the per-channel median of the image's 1-pixel
    border; resized before padding, so a very long image never makes a huge square."""
    _, h, w = image.shape
    if fit == "crop":
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        return resize(image[:, top : top + side, left : left + side], size, size)
    if fit != "pad":
        raise ValueError(f"fit must be resolved to 'crop' or 'pad', not {fit!r}")
    side = max(h, w)
    new_h, new_w = max(1, round(h * size / side)), max(1, round(w * size / side))
    square = border_median(image)[:, None, None].expand(-1, size, size).clone()
    top, left = (size - new_h) // 2, (size - new_w) // 2
    square[:, top : top + new_h, left : left + new_w] = resize(image, new_h, new_w)
    return square


def resize(image, height: int, width: int):
    """Bilinear resize of a C x H x W tensor to C x height x width, antialiased when
    shrinking; the same tensor (contiguous) when the size is already right."""
    import torch.nn.functional as F

    if image.shape[1:] == (height, width):
        return image.contiguous()
    shrinking = height < image.shape[1] or width < image.shape[2]
    resized = F.interpolate(
        image[None], size=(height, width), mode="bilinear", antialias=shrinking,
        align_corners=False,
    )  # fmt: skip
    return resized[0]


def border_median(image):
    """(C, H, W) -> (C,): the median of each channel's outermost pixels (top and bottom
    rows, left and right columns)."""
    import torch

    border = torch.cat(
        [image[:, 0], image[:, -1], image[:, :, 0], image[:, :, -1]], dim=1
    )  # (C, 2W + 2H)
    return border.median(dim=1).values


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
    """How every image of a run is loaded: S, C (0 = keep the file's), the intensity rule,
    the pixel limit and the aspect-ratio rule (`fit`)."""

    size: int
    channels: int
    intensity: str = "auto"
    max_pixels: int = MAX_PIXELS
    fit: str = "crop"

    @classmethod
    def of_run(cls, config: TrainConfig, channels: int) -> ImageSpec:
        """The spec a trained run's images were loaded with (its config and the model's
        input channels)."""
        return cls(config.image_size, channels, config.intensity, config.max_pixels, config.fit)


def load_image(path: Path, spec: ImageSpec):
    """One image as a float32 tensor of shape (spec.channels, spec.size, spec.size)."""
    return read_image(path, spec)[0]


def read_image(path: Path, spec: ImageSpec):
    """`load_image`'s tensor and whether the file is 8-bit (`is_8bit`)."""
    pixels = read_pixels(Path(path), spec.max_pixels)
    if pixels.ndim != 3 or min(pixels.shape[1:]) < 1:
        raise ValueError(f"unexpected pixel array of shape {pixels.shape}")
    import torch

    raw = torch.from_numpy(finite_float32(pixels))
    image = to_unit_range(square_resize(raw, spec.size, spec.fit), pixels.dtype, spec.intensity)
    if spec.channels:
        image = match_channels(image, spec.channels)
    return image, is_8bit(pixels.dtype)


def finite_float32(pixels: np.ndarray) -> np.ndarray:
    """`pixels` (C x H x W) as float32; in float data NaN -> 0 and ±inf -> the image's
    largest / smallest finite value. ValueError (the file is skipped) for complex data
    (no one intensity per pixel), for float data with no finite value, or with values beyond
    float32's range."""
    if np.iscomplexobj(pixels):
        raise ValueError(f"complex pixel values ({pixels.dtype}) have no intensity to read")
    if not np.issubdtype(pixels.dtype, np.floating):
        return pixels.astype(np.float32)
    finite = pixels[np.isfinite(pixels)]
    if finite.size == 0:
        raise ValueError("no finite pixel value (all NaN or infinite)")
    low, high = finite.min(), finite.max()
    if max(-low, high) > np.finfo(np.float32).max:
        raise ValueError(f"pixel values up to {max(-low, high):.3g}, beyond float32's range")
    return np.nan_to_num(pixels, nan=0.0, posinf=high, neginf=low).astype(np.float32)


def load_sample(root: Path, sample: Sample, spec: ImageSpec):
    """One sample as a (spec.channels, S, S) float32 tensor: each file is loaded to S x S
    in [0, 1], their channels are stacked in file order, then the channel rule applies."""
    return read_sample(root, sample, spec)[0]


def read_sample(root: Path, sample: Sample, spec: ImageSpec):
    """`load_sample`'s tensor and whether every file of the sample is 8-bit (the
    decoded-image cache stores it in uint8 then, else in uint16: data/cache.py)."""
    import torch

    if len(sample.files) == 1:
        return read_image(Path(root) / sample.files[0], spec)
    file_spec = dataclasses.replace(spec, channels=0)
    parts = [read_image(Path(root) / rel, file_spec) for rel in sample.files]
    image = match_channels(torch.cat([part for part, _ in parts]), spec.channels)
    return image, all(eight_bit for _, eight_bit in parts)


def describe_error(error: Exception) -> str:
    """A short, one-line reason for a failed read."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def evenly_spaced(samples: Sequence[Sample | str]) -> Sequence[Sample | str]:
    """Up to SHAPE_SAMPLE evenly spaced items of `samples`: what the folder is judged by."""
    return samples[:: max(1, len(samples) // SHAPE_SAMPLE)][:SHAPE_SAMPLE]


Found = TypeVar("Found")


def read_evenly_spaced(
    samples: Sequence[Sample | str], read: Callable[[Sample], Found]
) -> list[Found]:
    """`read` of each of up to SHAPE_SAMPLE evenly spaced samples, leaving out those it
    cannot read (the loading pass reports them later): what the folder is judged by."""
    found = []
    for sample in as_samples(evenly_spaced(samples)):
        try:
            found.append(read(sample))
        except Exception:  # unreadable files are reported later, by the loading pass
            continue
    return found


def sample_shapes(root: Path, samples: Sequence[Sample | str]) -> list[tuple[int, int, int]]:
    """(C, H, W) of up to SHAPE_SAMPLE evenly spaced readable samples of the folder (a
    sample of several files counts the channels of all of them; H, W from its first)."""

    def shape(sample: Sample) -> tuple[int, int, int]:
        found = [read_shape(Path(root) / rel) for rel in sample.files]
        return sum(s[0] for s in found), found[0][1], found[0][2]

    return read_evenly_spaced(samples, shape)


def resolve_channels(policy: str, shapes: Sequence[tuple[int, int, int]]) -> int:
    """The channel count for a run: from the policy, or for 'auto' the most common count
    among the sampled `shapes` (ties go to the larger count; 1 if none was readable)."""
    fixed = fixed_channels(policy)
    if fixed is not None:
        return fixed
    counts = Counter(shape[0] for shape in shapes)
    if not counts:
        return 1
    return max(counts, key=lambda c: (counts[c], c))


def square_side(shape: tuple[int, int, int], fit: str) -> int:
    """The side of the square `square_resize` makes of a (C, H, W) image before resizing:
    max(H, W) for 'pad', min(H, W) for 'crop'."""
    return max(shape[1:]) if fit == "pad" else min(shape[1:])


def resolve_image_size(
    requested: int,
    shapes: Sequence[tuple[int, int, int]],
    largest: int,
    fit: str,
) -> int:
    """The side S images are resized to by their sizes: `requested`, or for 0 ('auto')
    twice the median side of the squares `fit` makes of the sampled images (their long
    side for 'pad', short side for 'crop'), rounded up to a multiple of 8 and kept within
    [AUTO_SIZE_MIN, largest]: small images are not blown up past 2x (it adds compute,
    not information), large ones are reduced to what the device can train on (`largest`:
    AUTO_SIZE_MAX on the CPU, AUTO_SIZE_MAX_CUDA on a GPU; runtime/device.py). For 'auto',
    `resolve_spec` then looks at the images' detail (data/detail.py)."""
    if requested:
        return requested
    if not shapes:
        return largest
    return int(min(largest, max(AUTO_SIZE_MIN, 8 * np.ceil(2 * median_side(shapes, fit) / 8))))


def median_side(shapes: Sequence[tuple[int, int, int]], fit: str) -> float:
    """The median side of the squares `fit` makes of (C, H, W) `shapes` (non-empty)."""
    return float(np.median([square_side(shape, fit) for shape in shapes]))


def resolve_fit(
    root: Path,
    samples: Sequence[Sample | str],
    fit: str,
    max_pixels: int = MAX_PIXELS,
    say: Callable[[str], None] = lambda _message: None,
) -> str:
    """`fit`, or for 'auto' the rule of data/background.py on the non-square ones among up
    to SHAPE_SAMPLE evenly spaced readable samples (their first file; said in one line when
    there are any; only they are decoded)."""
    if fit != "auto":
        return fit
    from infohier_cli.data.background import BACKGROUND_SHARE_MAX, background_fit

    def non_square(sample: Sample) -> np.ndarray | None:
        path = Path(root) / sample.files[0]
        if len(set(read_shape(path)[1:])) == 1:
            return None
        pixels = read_pixels(path, max_pixels)
        return pixels if pixels.ndim == 3 and min(pixels.shape) >= 1 else None

    images = [image for image in read_evenly_spaced(samples, non_square) if image is not None]
    chosen, share = background_fit(images)
    if images:
        kept = "kept whole on a square of it" if chosen == "pad" else "cut to a centred square"
        say(
            f"fit: {chosen} (auto: the non-square images' border varies {share:.2f} as much "
            f"as the whole image, below {BACKGROUND_SHARE_MAX} counts as a background; "
            f"{kept})"
        )
    return chosen


def resolve_spec(
    root: Path,
    samples: Sequence[Sample | str],
    channel_policy: str,
    requested_size: int,
    intensity: str = "auto",
    largest: int = AUTO_SIZE_MAX,
    fit: str = "auto",
    max_pixels: int = MAX_PIXELS,
    say: Callable[[str], None] = lambda _message: None,
) -> ImageSpec:
    """The ImageSpec of a new run: the fit from `fit` (`resolve_fit`), channels from
    `channel_policy`, size from `requested_size` (0 = auto, at most `largest`); the folder
    is sampled only when one of them is 'auto'. An auto size is made smaller when the
    images hold no more detail than a smaller side keeps (`detail_side`; said in one line):
    up to SHAPE_SAMPLE of them are then decoded once more, at the size their sizes gave."""
    fit = resolve_fit(root, samples, fit, max_pixels, say)
    needs_sample = channel_policy == "auto" or requested_size == 0
    shapes = sample_shapes(root, samples) if needs_sample else []
    spec = ImageSpec(
        resolve_image_size(requested_size, shapes, largest, fit),
        resolve_channels(channel_policy, shapes),
        intensity,
        max_pixels,
        fit,
    )
    if requested_size or not shapes or spec.size < 2 * AUTO_SIZE_MIN:
        return spec
    if median_side(shapes, fit) < spec.size:  # enlarged: the detail side is the stored one
        return spec
    from infohier_cli.data.detail import DETAIL_LOST_MAX, detail_side

    side, lost = detail_side(sampled_images(root, samples, spec), AUTO_SIZE_MIN)
    if side < spec.size:
        say(
            f"image size: {side} px (auto: the images lose {lost:.2%} of their variance "
            f"at {side} px against {spec.size}, at most {DETAIL_LOST_MAX:.1%} counts as no "
            "detail lost)"
        )
    return dataclasses.replace(spec, size=side)


def sampled_images(root: Path, samples: Sequence[Sample | str], spec: ImageSpec):
    """Up to SHAPE_SAMPLE evenly spaced readable samples of the folder, read with `spec`
    -> (N, C, S, S) float32 (N may be 0)."""
    import torch

    images = read_evenly_spaced(samples, lambda sample: read_sample(root, sample, spec)[0])
    if not images:
        return torch.zeros(0, spec.channels, spec.size, spec.size)
    return torch.stack(images)
