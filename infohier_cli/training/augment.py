"""The SSL view pipeline: two random views of one C x S x S image (SimCLR-style), and with
`--local-crops V` V small ones of C x S/2 x S/2 (multi-crop, Caron et al. 2020: crops of
area LOCAL_SCALE_MIN to crop_scale_min, so each shows a part of what the full views show),
made per image in the data loader (`--batch-augment off`, the CPU default; batch_views.py
makes them for a whole batch on the device).

Built from torchvision.transforms.v2 on plain tensors, so it works for 1, 3 or any number
of channels: random resized crop, the mirror symmetries of `symmetry` (left-right flips,
or all flips and 90-degree rotations for data with no "up" such as microscopy),
brightness/contrast, Gaussian blur; saturation/hue jitter only for three-channel data
(read as RGB, whatever the channels hold) and only when asked for (`color_jitter` > 0).
"""

from __future__ import annotations

import torch
from torchvision.transforms import v2

from infohier_cli.config import TrainConfig
from infohier_cli.runtime.device import one_thread


class RandomRot90(torch.nn.Module):
    """Rotate a (..., H, W) tensor by k·90 degrees, k uniform in {0, 1, 2, 3}."""

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        k = int(torch.randint(4, ()).item())
        return torch.rot90(image, k, dims=(-2, -1)) if k else image


class BrightnessContrast(torch.nn.Module):
    """x -> clamp(((x - mean_c) · c + mean_c) · b, 0, 1) with b, c ~ U(1 - s, 1 + s).

    mean_c is the per-channel mean, so the rule is the same for any channel count.
    """

    def __init__(self, strength: float):
        super().__init__()
        self.strength = strength

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        b, c = 1.0 + self.strength * (2.0 * torch.rand(2) - 1.0)
        mean = image.mean(dim=(-2, -1), keepdim=True)
        return (((image - mean) * c + mean) * b).clamp(0.0, 1.0)


LOCAL_SCALE_MIN = 0.05  # smallest crop area (fraction of the image) of a local view


def view_size_and_scale(config: TrainConfig, local: bool) -> tuple[int, tuple[float, float]]:
    """(side, (smallest, largest) crop area) of a full view, or of a local one (areas up
    to `crop_scale_min`, from LOCAL_SCALE_MIN or less when `crop_scale_min` is smaller)."""
    if local:
        low = min(LOCAL_SCALE_MIN, config.crop_scale_min)
        return local_size(config.image_size), (low, config.crop_scale_min)
    return config.image_size, (config.crop_scale_min, 1.0)


def local_size(size: int) -> int:
    """The side of a local view: half the image size S, at least 8 px."""
    return max(8, size // 2)


def build_view(config: TrainConfig, channels: int, local: bool = False) -> v2.Compose:
    """One random view: (C, S, S) float in [0, 1] -> (C, s, s) float in [0, 1], s = S for
    a full view, `local_size(S)` for a local one (`view_size_and_scale`)."""
    size, scale = view_size_and_scale(config, local)
    aspect = (1.0 / config.crop_aspect, config.crop_aspect)
    steps: list[torch.nn.Module] = [
        v2.RandomResizedCrop(size, scale=scale, ratio=aspect, antialias=True)
    ]
    left_right, dihedral = config.flips
    if left_right:
        steps.append(v2.RandomHorizontalFlip())
    if dihedral:
        steps += [v2.RandomVerticalFlip(), RandomRot90()]
    if config.jitter > 0:
        steps.append(v2.RandomApply([BrightnessContrast(config.jitter)], p=0.8))
    if config.color_jitter > 0 and channels == 3:
        hue = min(0.5, config.color_jitter / 4)
        steps.append(
            v2.RandomApply([v2.ColorJitter(saturation=config.color_jitter, hue=hue)], p=0.8)
        )
    if config.blur_prob > 0:
        kernel = max(3, (size // 10) | 1)
        steps.append(
            v2.RandomApply(
                [v2.GaussianBlur(kernel, sigma=(0.1, max(0.5, size / 32)))], p=config.blur_prob
            )
        )
    return v2.Compose(steps)


def sample_seed(*parts: int) -> int:
    """A 63-bit seed mixed from integers (run seed, epoch, image index, ...)."""
    value = 0x9E3779B97F4A7C15
    for part in parts:
        value = (value ^ (part + 0x632BE59BD9B4E019 + (value << 6) + (value >> 2))) % (1 << 63)
    return value


class PerImageViews(torch.utils.data.Dataset):
    """Wraps an image dataset: item i -> (view_1, view_2, local_1, ..., local_V), two random
    views of image i and `config.local_crops` local ones (none by default).

    The randomness of item i depends only on (seed, epoch, i): the views are the same
    whatever the number of loader workers or DDP processes, and a resumed run replays them.
    Set `epoch` before each pass.
    """

    def __init__(self, images: torch.utils.data.Dataset, config: TrainConfig, channels: int):
        self.images = images
        self.view = build_view(config, channels)
        self.local_view = build_view(config, channels, local=True)
        self.local_crops = config.local_crops
        self.seed = config.seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        image = self.images[index]
        with torch.random.fork_rng(devices=[]), one_thread():
            torch.manual_seed(sample_seed(self.seed, self.epoch, index))
            full = (self.view(image), self.view(image))
            return full + tuple(self.local_view(image) for _ in range(self.local_crops))

    def on_device(
        self, batch: tuple[torch.Tensor, ...], device: torch.device
    ) -> tuple[torch.Tensor, ...]:
        """A loaded batch of views (view_1, view_2, local views...), each (B, C, s, s),
        moved to `device` (the loop's interface; training/batch_views.py makes the views
        here instead)."""
        return tuple(view.to(device, non_blocking=True) for view in batch)
