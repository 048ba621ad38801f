"""The encoder and the model: output shapes for any channel count and image size."""

from __future__ import annotations

import pytest
import torch

from infohier_cli.config import TrainConfig
from infohier_cli.model.encoder import Encoder
from infohier_cli.model.network import InfoHierModel


@pytest.mark.parametrize("channels", [1, 3, 5])
@pytest.mark.parametrize("size", [16, 32, 72])
def test_encoder_output_shapes(channels: int, size: int):
    encoder = Encoder(channels, size, width=8, proj_dim=16).eval()
    with torch.no_grad():
        z, p = encoder(torch.rand(2, channels, size, size))
    assert z.shape == (2, 64) and p.shape == (2, 16)
    assert encoder.latent_dim == 64
    assert torch.isfinite(z).all() and torch.isfinite(p).all()


def test_small_images_get_the_small_stem():
    small, large = Encoder(1, 32, width=8), Encoder(1, 128, width=8)
    assert small.backbone.conv1.stride == (1, 1) and isinstance(
        small.backbone.maxpool, torch.nn.Identity
    )
    assert large.backbone.conv1.stride == (2, 2)


@pytest.mark.parametrize("channels", [1, 3, 5])
@pytest.mark.parametrize("ball_dim", [2, 3])
def test_model_outputs_latent_projection_and_ball_points(channels: int, ball_dim: int):
    config = TrainConfig(image_size=16, width=8, proj_dim=32, ball_dim=ball_dim)
    model = InfoHierModel(config, channels).eval()
    with torch.no_grad():
        z, p, e = model(torch.rand(3, channels, 16, 16))
    assert z.shape == (3, 64) and p.shape == (3, 32) and e.shape == (3, ball_dim)
    assert float(e.norm(dim=1).max()) <= config.r_max + 1e-4
