"""Mirror symmetries: which a folder's images have (`auto`), and the mirror images of each.

The symmetries are used twice: as training views (`--symmetry`, training/augment.py) and
as the images whose latents are averaged into each image's latent (`--latent-symmetry`,
`mirror_images` below, used by embed.py).

A flip g is a symmetry of the folder when a flipped image looks like the folder's own
images: as close to its nearest other image as an unflipped image is to its nearest. On a
folder of thumbnails X = {x_1..x_n} (gray, 16 x 16 area means, each centred and scaled to
unit norm, so the distance is a cosine distance that ignores brightness and contrast):

    d_i = min_{j != i} |x_i - x_j|,   d_i(g) = min_{j != i} |g(x_i) - x_j|,
    r(g) = median_i d_i(g) / median_i d_i.

If the images' distribution is invariant under g, g(x_i) is a draw like any other image
and r(g) ~ 1; if the images have an "up" (digits, faces, photographs), g(x_i) lands away
from every image and r(g) is well above 1. The rule: `dihedral` (every flip and quarter
turn) when r <= SYMMETRY_RATIO_MAX for the left-right flip, the up-down flip and the
quarter turn; else `hflip` when r(left-right flip) <= SYMMETRY_RATIO_MAX; else `none`.
Measured on the development suite (BENCHMARKS.md): 0.94-1.06 on folders with no "up"
(particles, synthetic cells, textures, shapes), 1.44-3.92 on digits and photographs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

SYMMETRY_RATIO_MAX = 1.2  # r(g) at most this: g is a symmetry of the folder
THUMB_SIDE = 16  # thumbnails compared are THUMB_SIDE x THUMB_SIDE
MAX_IMAGES = 2000  # at most this many evenly spaced images are compared
MIN_IMAGES = 20  # fewer images than this: too few neighbours to tell; `none`

FLIPS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "left-right flip": lambda x: x.flip(-1),
    "up-down flip": lambda x: x.flip(-2),
    "quarter turn": lambda x: torch.rot90(x, 1, dims=(-2, -1)),
}


def mirror_images(images: torch.Tensor, symmetry: str) -> list[torch.Tensor]:
    """(B, C, S, S) -> the images under each element of `symmetry`'s group, (B, C, S, S) each.

    none: [x]; hflip: [x, m(x)] with m the left-right mirror; dihedral: the 8 elements
    r^k(x), r^k(m(x)) for k = 0..3 quarter turns r. Each group maps the list onto itself,
    so a mean over it is the same for every mirror image of x.
    """
    if symmetry not in ("none", "hflip", "dihedral"):
        raise ValueError(f"no mirror group for symmetry {symmetry!r}")
    mirrored = [images] if symmetry == "none" else [images, images.flip(-1)]
    turns = range(4) if symmetry == "dihedral" else range(1)
    return [torch.rot90(image, k, dims=(-2, -1)) for image in mirrored for k in turns]


def thumbnails(images: Sequence[torch.Tensor]) -> torch.Tensor:
    """(C, S, S) images -> (n, THUMB_SIDE, THUMB_SIDE) float64 gray area-mean thumbnails."""
    gray = torch.stack([image.double().mean(0) for image in images])[:, None]
    return torch.nn.functional.interpolate(gray, size=(THUMB_SIDE, THUMB_SIDE), mode="area")[:, 0]


def unit_rows(thumbs: torch.Tensor) -> torch.Tensor:
    """(n, T, T) -> (n, T·T): each row centred on its mean and scaled to unit norm."""
    rows = thumbs.reshape(len(thumbs), -1)
    rows = rows - rows.mean(1, keepdim=True)
    return rows / rows.norm(dim=1, keepdim=True).clamp_min(1e-12)


def nearest_other(queries: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """(n, D), (n, D) -> (n,): distance from query i to its nearest point j != i."""
    distance = torch.cdist(queries, points)
    distance.fill_diagonal_(float("inf"))
    return distance.min(1).values


def flip_ratios(images: Sequence[torch.Tensor]) -> dict[str, float]:
    """r(g) for each flip g in FLIPS (module docstring) over `images`, (C, S, S) each."""
    thumbs = thumbnails(images)
    points = unit_rows(thumbs)
    plain = nearest_other(points, points).median()
    return {
        name: float(nearest_other(unit_rows(flip(thumbs)), points).median() / max(plain, 1e-12))
        for name, flip in FLIPS.items()
    }


def detect_symmetry(images: Sequence[torch.Tensor]) -> tuple[str, str]:
    """The symmetry `auto` resolves to for these (C, S, S) images, and a one-line reason.

    Up to MAX_IMAGES evenly spaced images are compared (the choice is deterministic); with
    fewer than MIN_IMAGES it is `none`.
    """
    if len(images) < MIN_IMAGES:
        return "none", f"fewer than {MIN_IMAGES} images to compare"
    step = -(-len(images) // MAX_IMAGES)
    ratios = flip_ratios([images[i] for i in range(0, len(images), step)])
    shown = ", ".join(f"{name} {ratio:.2f}" for name, ratio in ratios.items())
    reason = f"nearest-image distance ratio {shown}; a flip counts at <= {SYMMETRY_RATIO_MAX}"
    if max(ratios.values()) <= SYMMETRY_RATIO_MAX:
        return "dihedral", reason
    if ratios["left-right flip"] <= SYMMETRY_RATIO_MAX:
        return "hflip", reason
    return "none", reason
