"""SSL views: shapes and dtype kept, values in [0, 1], deterministic under a seed."""

from __future__ import annotations

import pytest
import torch

from infohier_cli.config import TrainConfig
from infohier_cli.training.augment import TwoViews, build_view, sample_seed

SYMMETRIES = ("none", "hflip", "dihedral")


@pytest.mark.parametrize("channels", [1, 3, 5])
@pytest.mark.parametrize("symmetry", SYMMETRIES)
def test_a_view_keeps_shape_dtype_and_range(channels: int, symmetry: str):
    config = TrainConfig(image_size=16, symmetry=symmetry, color_jitter=0.4, blur_prob=1.0)
    image = torch.rand(channels, 16, 16, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(1)
    view = build_view(config, channels)(image)
    assert view.shape == image.shape and view.dtype == torch.float32
    assert float(view.min()) >= 0.0 and float(view.max()) <= 1.0


def test_two_views_are_deterministic_under_a_seed_and_vary_with_it():
    images = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    config = TrainConfig(image_size=16, symmetry="dihedral", seed=7)
    first, again = TwoViews(images, config, 3), TwoViews(images, config, 3)
    for index in range(4):
        a1, a2 = first[index]
        b1, b2 = again[index]
        assert torch.equal(a1, b1) and torch.equal(a2, b2)
        assert not torch.equal(a1, a2)  # two different views of one image
    other = TwoViews(images, config.replace(seed=8), 3)
    assert not torch.equal(first[0][0], other[0][0])
    first.epoch = 1
    assert not torch.equal(first[0][0], again[0][0])  # a new epoch, new views


def test_views_do_not_disturb_the_global_random_state():
    images = torch.rand(2, 1, 16, 16)
    views = TwoViews(images, TrainConfig(image_size=16), 1)
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    views[0]
    assert torch.equal(torch.rand(3), expected)


def test_sample_seed_mixes_its_parts():
    seeds = {sample_seed(s, e, i) for s in range(3) for e in range(3) for i in range(3)}
    assert len(seeds) == 27 and all(0 <= s < 2**63 for s in seeds)
    assert sample_seed(1, 2, 3) == sample_seed(1, 2, 3)
