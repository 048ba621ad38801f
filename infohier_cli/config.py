"""Every training hyper-parameter in one frozen dataclass, saved as JSON in each checkpoint.

The CLI builds a `TrainConfig`; the library only reads it. Defaults are the measured ones
(see BENCHMARKS.md for the experiments behind them).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from infohier_cli.errors import UserError

RADIUS_MODES = ("fixed", "free")
INTENSITY_MODES = ("auto", "percentile", "fixed")
CHANNEL_POLICIES = ("auto", "gray", "rgb")
SYMMETRIES = ("none", "hflip", "dihedral")


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of a training run (what a checkpoint needs to rebuild the model).

    Data: `image_size` (S, images become C x S x S; 0 = auto, resolved from the folder
    when training starts and saved resolved), `channels` ('auto', 'gray', 'rgb' or a
    number as a string), `intensity` ('auto': 8-bit / 255 and percentile scaling for deeper
    data, 'percentile', or 'fixed': divide by the dtype's maximum).
    Model: `width` (channels of the ResNet-18 stem; 64 is torchvision's, latents are 8·width),
    `proj_dim`, `ball_dim` (dimension of the Poincaré ball, 2 = the disk), `radius`
    ('fixed': every leaf at `r_max`, HypHC's normalisation; 'free'), `r_max`.
    Loss: L = lambda_ct·NT-Xent(tau_ct) + lambda_hc·Dasgupta-triplet(tau_hc) on
    `triplets_per_image`·B triplets per batch, similarity from centred (`center_similarity`)
    latents, detached from the encoder's graph if `detach_similarity`.
    Optimisation: `epochs`, `batch_size` (global), `lr` (embedding head), `encoder_lr_scale`
    (encoder lr = lr · scale), `weight_decay`, `warmup_epochs` (contrastive only).
    Augmentation: `symmetry` (which mirror images count as "the same": 'none', 'hflip'
    left-right mirrors, 'dihedral' all flips and 90-degree rotations, for data with no
    "up" such as microscopy), `crop_scale_min`, `blur_prob`, `jitter` (brightness/contrast
    strength), `color_jitter` (saturation/hue strength, RGB only).
    """

    image_size: int = 0
    channels: str = "auto"
    intensity: str = "auto"
    width: int = 32
    proj_dim: int = 128
    ball_dim: int = 2
    radius: str = "free"
    r_max: float = 0.95
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    encoder_lr_scale: float = 1.0
    weight_decay: float = 1e-4
    lambda_ct: float = 1.0
    lambda_hc: float = 1.0
    tau_ct: float = 0.5
    tau_hc: float = 0.05
    warmup_epochs: int = 5
    triplets_per_image: int = 8
    center_similarity: bool = True
    detach_similarity: bool = True
    symmetry: str = "none"
    crop_scale_min: float = 0.3
    blur_prob: float = 0.3
    jitter: float = 0.4
    color_jitter: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        checks = [
            (self.image_size == 0 or self.image_size >= 8, "--image-size must be 0 (auto) or >= 8"),
            (self.width >= 4, "--width must be at least 4"),
            (self.ball_dim >= 2, "--ball-dim must be at least 2"),
            (self.radius in RADIUS_MODES, f"--radius must be one of {RADIUS_MODES}"),
            (0.0 < self.r_max < 1.0, "--r-max must lie in (0, 1)"),
            (self.epochs >= 1, "--epochs must be at least 1"),
            (self.batch_size >= 3, "--batch-size must be at least 3"),
            (self.lr > 0 and self.encoder_lr_scale > 0, "learning rates must be positive"),
            (self.lambda_ct >= 0 and self.lambda_hc >= 0, "loss weights must be >= 0"),
            (self.lambda_ct + self.lambda_hc > 0, "at least one loss weight must be > 0"),
            (self.tau_ct > 0 and self.tau_hc > 0, "temperatures must be positive"),
            (self.warmup_epochs >= 0, "--warmup-epochs must be >= 0"),
            (self.triplets_per_image >= 1, "--triplets-per-image must be at least 1"),
            (self.intensity in INTENSITY_MODES, f"--intensity must be one of {INTENSITY_MODES}"),
            (self.channels in CHANNEL_POLICIES or self.channels.isdigit(),
             "--channels must be auto, gray, rgb or a number"),
            (self.symmetry in SYMMETRIES, f"--symmetry must be one of {SYMMETRIES}"),
            (0.0 < self.crop_scale_min <= 1.0, "--crop-scale-min must lie in (0, 1]"),
            (0.0 <= self.blur_prob <= 1.0, "--blur-prob must lie in [0, 1]"),
        ]
        for ok, message in checks:
            if not ok:
                raise UserError(message)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with `changes` applied; `None` values mean "keep"."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        values = json.loads(text)
        return cls(**{k: v for k, v in values.items() if k in known})
