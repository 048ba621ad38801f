"""How much detail a folder's images hold: the content half of `--image-size auto`.

Pictures are often stored larger than the detail they carry: 8x8 digits saved as 32-px
files, thumbnails blown up for display, binned micrographs upscaled again. Training them
at the stored side costs more per step (a 32-px step about 2.5x a 16-px one on the CPU)
and buys nothing the network could see at a smaller side; on the 1,797 8x8 digits stored
at 32 px, 16 px with the steps that saves gave better trees (BENCHMARKS.md, "Resolution
from content"). For an image x (C, S, S), read as the run reads it at the side S the size
rule picked (`read.resolve_image_size`), and a smaller side s:

    lost_x(s) = ‖x − up_S(down_s(x))‖² / ‖x − x̄‖²

with down_s and up_S bicubic resizes (antialiased going down) and x̄ each channel's mean:
the share of the image's variance that a round trip through s loses (0 for a flat
image: variance at most `FLAT_VARIANCE` per pixel). The side becomes the smallest s in
AUTO_SIZE_MIN, AUTO_SIZE_MIN + 8, ..., S / 2 whose median lost(s) over the sampled images
is at most `DETAIL_LOST_MAX`, else S stays. Only sides of at most half of S are tried: a
smaller step down saves little compute and was not measured. Read as a run reads them,
the development suite's digits lose 0.13% at 16 px against 32; every other folder loses
at least 2.2% there (photograph patches; textures 22%), so the threshold only catches
content that was upscaled. The rule only shrinks: images the size rule enlarged (stored
smaller than S) keep S, their detail side is their stored side.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

DETAIL_LOST_MAX = 0.005  # share of the images' variance a smaller side may lose
SIDE_STEP = 8  # candidate sides are multiples of this
FLAT_VARIANCE = 1e-10  # per pixel, pixels in [0, 1]: below it an image counts as flat


def detail_lost(images: torch.Tensor, side: int) -> torch.Tensor:
    """lost_x(side) of the module docstring for each image: (N, C, S, S) -> (N,)."""
    size = images.shape[-2:]
    down = F.interpolate(images, size=(side, side), mode="bicubic", antialias=True)
    back = F.interpolate(down, size=size, mode="bicubic", align_corners=False)
    lost = ((images - back) ** 2).flatten(1).sum(1)
    variance = ((images - images.mean(dim=(-2, -1), keepdim=True)) ** 2).flatten(1).sum(1)
    flat = variance <= FLAT_VARIANCE * images[0].numel()
    return torch.where(flat, torch.zeros_like(lost), lost / variance.clamp_min(1e-30))


def detail_side(images: torch.Tensor, smallest: int) -> tuple[int, float]:
    """The side of the module docstring for (N, C, S, S) images, at least `smallest`, and
    the median share of variance lost there (0.0 when S stays, as it does for N = 0)."""
    size, images = images.shape[-1], images.float()
    if not len(images):
        return size, 0.0
    for side in range(smallest, size // 2 + 1, SIDE_STEP):
        lost = float(detail_lost(images, side).median())
        if lost <= DETAIL_LOST_MAX:
            return side, lost
    return size, 0.0
