"""The SSL views of a whole batch at once, as tensor ops on the batch's device (`--batch-augment`).

The per-image pipeline (augment.py) runs torchvision transforms one image at a time in the
data loader: on a GPU that Python loop, not the network, sets the pace. Here the loader only
hands over (indices, images (B, C, S, S)) and `BatchViews.on_device` makes both views of the
batch (and `local_crops` local ones at S/2) where the network runs, with the same steps and
distributions as augment.py:

- random resized crop of area fraction a ~ U(crop_scale_min, 1) (a local view: U(0.05,
  crop_scale_min); augment.view_size_and_scale) and aspect ratio r = exp(U(-ln A, ln A))
  (A = crop_aspect), half-sides w = min(1, √(a·r)), h = min(1, √(a/r)) in the normalised
  frame [-1, 1]², centre t uniform where the crop fits; with the mirror symmetries it is
  one affine map per image, output (u, v) -> input diag(w, h)·R^k·F·(u, v)
  + t (F: flips, R: the 90-degree turn), sampled bilinearly (`affine_grid`/`grid_sample`);
- brightness/contrast x -> clamp(((x - mean_c)·c + mean_c)·b, 0, 1), b, c ~ U(1 ± jitter),
  with probability 0.8;
- three channels (read as RGB) with `color_jitter` > 0, with probability 0.8: saturation
  (blend with the luma, factor ~ U(max(0, 1 - j), 1 + j)) then a hue turn by
  θ = 2π·U(±min(0.5, j/4)) about the grey axis in YIQ space (torchvision turns hue in HSV;
  the YIQ turn is its linear analogue);
- Gaussian blur with probability `blur_prob`, σ ~ U(0.1, max(0.5, S/32)), kernel
  max(3, (S // 10) | 1), separable, reflected at the border.

Randomness: every image draws its `N_DRAWS` uniforms per view from its own generator seeded by
(seed, epoch, image index), on the CPU: the views of image i do not depend on the batch it
is in, the number of processes or the device, and a resumed run replays them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from infohier_cli.config import TrainConfig
from infohier_cli.runtime.device import one_thread, to_device
from infohier_cli.training.augment import sample_seed, view_size_and_scale

N_DRAWS = 15  # uniforms per view: the columns of `view_uniforms`, named below
SCALE, ASPECT, CX, CY, HFLIP, VFLIP, ROT, JIT, BRIGHT, CONTRAST, COL, SAT, HUE, BLUR, SIGMA = range(
    N_DRAWS
)
# RGB <-> YIQ (NTSC): hue turns are rotations of the (I, Q) plane about the grey axis Y
RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
YIQ_TO_RGB = torch.linalg.inv(RGB_TO_YIQ)


def view_uniforms(seed: int, epoch: int, indices: torch.Tensor, views: int = 2) -> torch.Tensor:
    """(B,) image indices -> (views, B, N_DRAWS) uniforms in [0, 1): every view of each
    image, from a generator seeded by (seed, epoch, index) alone (the two full views
    first, so they do not depend on the number of local views)."""
    rows = []
    for index in indices.tolist():
        generator = torch.Generator().manual_seed(sample_seed(seed, epoch, index, 2))
        rows.append(torch.rand(views, N_DRAWS, generator=generator))
    return torch.stack(rows, dim=1)


def crop_matrices(u: torch.Tensor, config: TrainConfig, scale: tuple[float, float]) -> torch.Tensor:
    """(B, N_DRAWS) uniforms -> (B, 2, 3) affine maps (affine_grid's theta): crop (area
    fraction in `scale`) and mirror."""
    low, high = scale
    area = low + (high - low) * u[:, SCALE]
    ratio = torch.exp((2.0 * u[:, ASPECT] - 1.0) * math.log(config.crop_aspect))
    w = torch.sqrt(area * ratio).clamp(max=1.0)
    h = torch.sqrt(area / ratio).clamp(max=1.0)
    tx = (1.0 - w) * (2.0 * u[:, CX] - 1.0)
    ty = (1.0 - h) * (2.0 * u[:, CY] - 1.0)
    b = u.shape[0]
    linear = torch.diag_embed(torch.stack([w, h], dim=1))  # (B, 2, 2)
    left_right, dihedral = config.flips
    if left_right:
        flips = torch.ones(b, 2)
        flips[:, 0] = torch.where(u[:, HFLIP] < 0.5, -1.0, 1.0)
        if dihedral:
            flips[:, 1] = torch.where(u[:, VFLIP] < 0.5, -1.0, 1.0)
            k = (4 * u[:, ROT]).long().clamp(max=3)
            cos = torch.tensor([1.0, 0.0, -1.0, 0.0])[k]
            sin = torch.tensor([0.0, 1.0, 0.0, -1.0])[k]
            turn = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)
            linear = linear @ turn
        linear = linear * flips[:, None, :]  # flip the output axes, then turn, then crop
    return torch.cat([linear, torch.stack([tx, ty], dim=1)[:, :, None]], dim=2)


def brightness_contrast(x: torch.Tensor, u: torch.Tensor, strength: float) -> torch.Tensor:
    """Per-channel mean contrast and brightness (augment.BrightnessContrast), p = 0.8."""
    on = (u[:, JIT] < 0.8).to(x.dtype)
    b = 1.0 + on * strength * (2.0 * u[:, BRIGHT].to(x) - 1.0)
    c = 1.0 + on * strength * (2.0 * u[:, CONTRAST].to(x) - 1.0)
    mean = x.mean(dim=(-2, -1), keepdim=True)
    return (((x - mean) * c[:, None, None, None] + mean) * b[:, None, None, None]).clamp(0, 1)


def colour(x: torch.Tensor, u: torch.Tensor, strength: float) -> torch.Tensor:
    """Saturation then hue of (B, 3, S, S) RGB, p = 0.8 (see the module docstring)."""
    on = (u[:, COL] < 0.8).to(x.dtype)
    low = max(0.0, 1.0 - strength)
    saturation = 1.0 + on * (low + (1.0 + strength - low) * u[:, SAT].to(x) - 1.0)
    to_rgb, to_yiq = (to_device(m, x.device).to(x.dtype) for m in (YIQ_TO_RGB, RGB_TO_YIQ))
    luma = torch.einsum("c,bchw->bhw", to_yiq[0], x)[:, None]
    x = (luma + saturation[:, None, None, None] * (x - luma)).clamp(0, 1)
    hue = min(0.5, strength / 4)
    theta = on * 2.0 * math.pi * hue * (2.0 * u[:, HUE].to(x) - 1.0)
    cos, sin, one, zero = theta.cos(), theta.sin(), torch.ones_like(theta), torch.zeros_like(theta)
    turn = torch.stack(
        [
            torch.stack([one, zero, zero], 1),
            torch.stack([zero, cos, -sin], 1),
            torch.stack([zero, sin, cos], 1),
        ],
        1,
    )  # (B, 3, 3) on (Y, I, Q)
    mix = to_rgb @ turn @ to_yiq  # (B, 3, 3) on RGB
    return torch.einsum("bkc,bchw->bkhw", mix, x).clamp(0, 1)


def gaussian_blur(x: torch.Tensor, u: torch.Tensor, size: int, prob: float) -> torch.Tensor:
    """A separable Gaussian blur per image (σ per image), applied with probability `prob`."""
    b, c, height, width = x.shape
    kernel = max(3, (size // 10) | 1)
    sigma = 0.1 + (max(0.5, size / 32) - 0.1) * u[:, SIGMA].to(x)
    offsets = torch.arange(kernel, dtype=x.dtype, device=x.device) - (kernel - 1) / 2
    weights = torch.exp(-(offsets[None] ** 2) / (2 * sigma[:, None] ** 2))
    weights = (weights / weights.sum(dim=1, keepdim=True)).repeat_interleave(c, dim=0)
    pad = kernel // 2
    flat = x.reshape(1, b * c, height, width)
    flat = F.conv2d(
        F.pad(flat, (0, 0, pad, pad), mode="reflect"), weights[:, None, :, None], groups=b * c
    )
    flat = F.conv2d(
        F.pad(flat, (pad, pad, 0, 0), mode="reflect"), weights[:, None, None, :], groups=b * c
    )
    blurred = flat.reshape(b, c, height, width)
    return torch.where((u[:, BLUR] < prob).to(x.device)[:, None, None, None], blurred, x)


def batch_view(
    images: torch.Tensor, u: torch.Tensor, config: TrainConfig, local: bool = False
) -> torch.Tensor:
    """One view of every image: (B, C, S, S) in [0, 1] and (B, N_DRAWS) uniforms -> (B, C,
    s, s) in [0, 1], on the images' device; s = S, or S/2 for a `local` view."""
    size, scale = view_size_and_scale(config, local)
    b, channels = images.shape[:2]
    theta = to_device(crop_matrices(u, config, scale), images.device).to(images.dtype)
    u = to_device(u, images.device)
    grid = F.affine_grid(theta, [b, channels, size, size], align_corners=False)
    x = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    x = x.clamp(0, 1)
    if config.jitter > 0:
        x = brightness_contrast(x, u, config.jitter)
    if config.color_jitter > 0 and channels == 3:
        x = colour(x, u, config.color_jitter)
    if config.blur_prob > 0:
        x = gaussian_blur(x, u, size, config.blur_prob)
    return x


class BatchViews(torch.utils.data.Dataset):
    """Wraps an image dataset: item i -> (i, image i); `on_device` makes a loaded batch's two
    views on the device. Set `epoch` before each pass (as for augment.PerImageViews)."""

    def __init__(self, images: torch.utils.data.Dataset, config: TrainConfig):
        self.images, self.config, self.epoch = images, config, 0

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[int, torch.Tensor]:
        return index, self.images[index]

    def on_device(
        self, batch: tuple[torch.Tensor, torch.Tensor], device: torch.device
    ) -> tuple[torch.Tensor, ...]:
        """(indices (B,), images (B, C, S, S)) -> the two views (B, C, S, S), then the
        `local_crops` local ones (B, C, S/2, S/2), on `device`."""
        indices, images = batch
        images = images.to(device, non_blocking=True)
        config = self.config
        u = view_uniforms(config.seed, self.epoch, indices, 2 + config.local_crops)
        with one_thread():  # on the CPU: small ops, each would wait for the thread pool
            return tuple(batch_view(images, u[v], config, local=v >= 2) for v in range(len(u)))
