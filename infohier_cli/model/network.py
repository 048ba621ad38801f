"""The InfoHier model: encoder f_θ (ResNet-18 + projection) and embedding head E (ball)."""

from __future__ import annotations

import torch
from torch import nn

from infohier_cli.config import TrainConfig
from infohier_cli.model.encoder import Encoder
from infohier_cli.model.hyperbolic import EmbeddingHead


class InfoHierModel(nn.Module):
    """x (B, C, S, S) -> z (B, 8·width) latent, p (B, proj_dim) projection, e (B, ball_dim)."""

    def __init__(self, config: TrainConfig, in_channels: int):
        super().__init__()
        self.encoder = Encoder(in_channels, config.image_size, config.width, config.proj_dim)
        self.head = EmbeddingHead(
            self.encoder.latent_dim, config.ball_dim, config.radius, config.r_max
        )

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Under autocast (`--amp`) only the encoder runs in low precision: z and p are
        returned in float32 and the ball maths runs in float32 (autocast off)."""
        z, p = self.encoder(images)
        z, p = z.float(), p.float()
        with torch.autocast(images.device.type, enabled=False):
            return z, p, self.head(z)
