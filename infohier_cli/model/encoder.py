"""The encoder f_θ: torchvision's ResNet-18 (trained from scratch) and SimCLR's projection head.

`width` scales every stage (torchvision's ResNet-18 is width 64: stages 64-128-256-512);
the latent z is the pooled output of the last stage, 8·width numbers. Images of at most
64 px get the small-image stem (3x3 conv, stride 1, no max-pool) so that a 32-px image is
not reduced to 1x1 before the last stage.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models import resnet18
from torchvision.models.resnet import BasicBlock

SMALL_IMAGE_MAX = 64


def resnet18_backbone(in_channels: int, image_size: int, width: int = 64) -> nn.Module:
    """ResNet-18 without its classifier: (B, C, S, S) -> (B, 8·width)."""
    net = resnet18(weights=None)
    if width != 64:
        net.inplanes = width
        net.bn1 = nn.BatchNorm2d(width)
        net.layer1 = net._make_layer(BasicBlock, width, 2)
        net.layer2 = net._make_layer(BasicBlock, 2 * width, 2, stride=2)
        net.layer3 = net._make_layer(BasicBlock, 4 * width, 2, stride=2)
        net.layer4 = net._make_layer(BasicBlock, 8 * width, 2, stride=2)
    if image_size <= SMALL_IMAGE_MAX:
        net.conv1 = nn.Conv2d(in_channels, width, kernel_size=3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
    else:
        net.conv1 = nn.Conv2d(in_channels, width, kernel_size=7, stride=2, padding=3, bias=False)
    net.fc = nn.Identity()
    for module in net.modules():  # torchvision's initialisation, for the replaced layers too
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    return net


class Encoder(nn.Module):
    """x (B, C, S, S) -> (z (B, 8·width) latent, p (B, proj_dim) projection for NT-Xent)."""

    def __init__(self, in_channels: int, image_size: int, width: int = 64, proj_dim: int = 128):
        super().__init__()
        self.backbone = resnet18_backbone(in_channels, image_size, width)
        self.latent_dim = 8 * width
        d = self.latent_dim
        self.projector = nn.Sequential(
            nn.Linear(d, d), nn.BatchNorm1d(d), nn.ReLU(inplace=True), nn.Linear(d, proj_dim)
        )

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.backbone(images)
        return z, self.projector(z)
