"""SSL views, per image and batched: shapes and dtype kept, values in [0, 1], deterministic
under a seed; the batched crop/mirror geometry against the exact flips and turns."""

from __future__ import annotations

import pytest
import torch

from infohier_cli.config import TrainConfig
from infohier_cli.training.augment import (
    PerImageViews,
    build_view,
    sample_seed,
    view_size_and_scale,
)
from infohier_cli.training.batch_views import (
    BLUR,
    COL,
    CX,
    CY,
    HFLIP,
    HUE,
    JIT,
    N_DRAWS,
    ROT,
    SAT,
    SCALE,
    SIGMA,
    VFLIP,
    BatchViews,
    batch_view,
)

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
    first, again = PerImageViews(images, config, 3), PerImageViews(images, config, 3)
    for index in range(4):
        a1, a2 = first[index]
        b1, b2 = again[index]
        assert torch.equal(a1, b1) and torch.equal(a2, b2)
        assert not torch.equal(a1, a2)  # two different views of one image
    other = PerImageViews(images, config.replace(seed=8), 3)
    assert not torch.equal(first[0][0], other[0][0])
    first.epoch = 1
    assert not torch.equal(first[0][0], again[0][0])  # a new epoch, new views


@pytest.mark.parametrize("batched", [False, True])
def test_local_views_are_half_size_and_leave_the_full_views_as_they_were(batched: bool):
    images = torch.rand(3, 2, 16, 16, generator=torch.Generator().manual_seed(0))
    config = TrainConfig(image_size=16, seed=3, blur_prob=1.0)
    multi = config.replace(local_crops=3)
    if batched:
        plain, views = batch_views(images, config), batch_views(images, multi)
    else:
        plain, views = PerImageViews(images, config, 2)[1], PerImageViews(images, multi, 2)[1]
    assert len(plain) == 2 and len(views) == 5
    assert all(torch.equal(a, b) for a, b in zip(plain, views[:2], strict=True))
    for local in views[2:]:
        assert local.shape[-2:] == (8, 8) and local.shape[:-2] == plain[0].shape[:-2]
        assert float(local.min()) >= 0.0 and float(local.max()) <= 1.0
    assert not torch.equal(views[2], views[3])


def test_local_crop_areas_stay_an_ordered_range_below_the_local_minimum():
    tiny = TrainConfig(image_size=16, crop_scale_min=0.02, local_crops=1)
    assert view_size_and_scale(tiny, local=True) == (8, (0.02, 0.02))
    assert view_size_and_scale(tiny.replace(crop_scale_min=0.3), local=True) == (8, (0.05, 0.3))


def test_views_do_not_disturb_the_global_random_state_or_thread_count():
    images = torch.rand(2, 1, 16, 16)
    views = PerImageViews(images, TrainConfig(image_size=16), 1)
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        views[0]  # made on one thread, then the count is restored
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(torch.rand(3), expected)


def test_sample_seed_mixes_its_parts():
    seeds = {sample_seed(s, e, i) for s in range(3) for e in range(3) for i in range(3)}
    assert len(seeds) == 27 and all(0 <= s < 2**63 for s in seeds)
    assert sample_seed(1, 2, 3) == sample_seed(1, 2, 3)


# --- the batched views (batch_views.py, --batch-augment) ---


def batch_views(images: torch.Tensor, config: TrainConfig, indices=None, epoch: int = 0):
    views = BatchViews(images, config)
    views.epoch = epoch
    indices = torch.arange(len(images)) if indices is None else indices
    return views.on_device((indices, images), torch.device("cpu"))


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("symmetry", SYMMETRIES)
def test_batched_views_keep_shape_and_range_and_differ_between_views(channels, symmetry):
    config = TrainConfig(image_size=16, symmetry=symmetry, color_jitter=0.4, blur_prob=0.5)
    images = torch.rand(6, channels, 16, 16, generator=torch.Generator().manual_seed(0))
    view1, view2 = batch_views(images, config)
    for view in (view1, view2):
        assert view.shape == images.shape and view.dtype == torch.float32
        assert float(view.min()) >= 0.0 and float(view.max()) <= 1.0
    for i in range(6):
        assert not torch.equal(view1[i], view2[i])


def test_batched_views_are_deterministic_per_image_and_vary_with_seed_and_epoch():
    config = TrainConfig(image_size=16, symmetry="dihedral", color_jitter=0.4, seed=7)
    images = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    first = batch_views(images, config)
    again = batch_views(images, config)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    # image 2's views do not depend on the batch it comes in (so not on DDP's split)
    alone = batch_views(images[2:3], config, indices=torch.tensor([2]))
    for whole, single in zip(first, alone, strict=True):
        torch.testing.assert_close(whole[2:3], single, rtol=0, atol=1e-6)
    assert not torch.equal(first[0], batch_views(images, config.replace(seed=8))[0])
    assert not torch.equal(first[0], batch_views(images, config, epoch=1)[0])


def draws(values: dict[int, float] | None = None) -> torch.Tensor:
    """One image's uniforms (1, N_DRAWS): a full-image crop, no jitter, no colour, no blur,
    unless `values` ({column: uniform}) says otherwise."""
    u = torch.full((1, N_DRAWS), 0.5)
    u[0, SCALE], u[0, JIT], u[0, COL], u[0, BLUR] = 1.0, 0.99, 0.99, 0.99
    for column, value in (values or {}).items():
        u[0, column] = value
    return u


def test_a_full_crop_is_the_image_and_mirrors_are_the_dihedral_images():
    image = torch.rand(1, 2, 16, 16, generator=torch.Generator().manual_seed(3))
    plain = TrainConfig(image_size=16, symmetry="none", blur_prob=0.5)
    torch.testing.assert_close(batch_view(image, draws(), plain), image, rtol=0, atol=1e-5)
    hflip = TrainConfig(image_size=16, symmetry="hflip", blur_prob=0.5)
    flipped = batch_view(image, draws({HFLIP: 0.2}), hflip)
    torch.testing.assert_close(flipped, image.flip(-1), rtol=0, atol=1e-5)
    dihedral = TrainConfig(image_size=16, symmetry="dihedral", blur_prob=0.5)
    group = [torch.rot90(m, k, dims=(-2, -1)) for m in (image, image.flip(-1)) for k in range(4)]
    seen = set()
    for h in (0.2, 0.8):
        for v in (0.2, 0.8):
            for rot in (0.1, 0.3, 0.6, 0.9):
                view = batch_view(image, draws({HFLIP: h, VFLIP: v, ROT: rot}), dihedral)
                matches = [j for j, g in enumerate(group) if torch.allclose(view, g, atol=1e-5)]
                assert len(matches) == 1
                seen.add(matches[0])
    assert seen == set(range(8))  # every element of the dihedral group is reached


def test_a_crop_magnifies_and_the_blur_and_colour_keep_what_they_should():
    ramp = torch.linspace(0, 1, 16).expand(1, 1, 16, 16).contiguous()  # brighter to the right
    config = TrainConfig(image_size=16, crop_scale_min=0.25, blur_prob=0.5)
    left = batch_view(ramp, draws({SCALE: 0.0, CX: 0.0, CY: 0.0}), config)  # the top-left quarter
    assert float(left.max()) < 0.55 and float(left[..., -1].mean()) > float(left[..., 0].mean())
    flat = torch.full((1, 3, 16, 16), 0.4)
    blurred = batch_view(flat, draws({BLUR: 0.1, SIGMA: 1.0}), config)  # a blur keeps a flat image
    torch.testing.assert_close(blurred, flat, rtol=0, atol=1e-5)
    grey = torch.rand(1, 1, 16, 16).expand(1, 3, 16, 16).contiguous()
    coloured = batch_view(
        grey, draws({COL: 0.1, SAT: 0.9, HUE: 0.9}), config.replace(color_jitter=0.8)
    )
    torch.testing.assert_close(coloured, grey, rtol=0, atol=1e-5)  # grey stays grey
    red = torch.zeros(1, 3, 16, 16)
    red[:, 0] = 0.8
    turned = batch_view(red, draws({COL: 0.1, HUE: 1.0}), config.replace(color_jitter=0.8))
    assert float((turned - red).abs().max()) > 0.1  # a hue turn changes a colour


def stretches(views: torch.Tensor) -> torch.Tensor:
    """(B, 2, S, S) views of `ramps` -> (B,) each view's x-to-y stretch: the range of its
    x ramp over the range of its y ramp (the crop's width over its height)."""
    ranges = views.amax(dim=(-2, -1)) - views.amin(dim=(-2, -1))
    return ranges[:, 0] / ranges[:, 1]


@pytest.mark.parametrize("batched", [False, True])
def test_square_crops_do_not_stretch_and_simclrs_do(batched: bool):
    size = 32
    ramp = torch.linspace(0, 1, size)
    ramps = torch.stack([ramp.expand(size, size), ramp[:, None].expand(size, size)])  # x, y
    config = TrainConfig(image_size=size, crop_scale_min=0.3, jitter=0.0, blur_prob=0.0)

    def views(aspect: float) -> torch.Tensor:
        square = config.replace(crop_aspect=aspect)
        if batched:
            return torch.cat(batch_views(ramps.expand(16, 2, size, size).contiguous(), square))
        made = PerImageViews([ramps] * 16, square, channels=2)
        return torch.stack([view for i in range(16) for view in made[i]])

    torch.testing.assert_close(stretches(views(1.0)), torch.ones(32), rtol=0, atol=0.02)
    simclr = stretches(views(4 / 3))
    assert float(simclr.max()) > 1.1 and float(simclr.min()) < 1 / 1.1
    assert float(simclr.max()) <= 4 / 3 + 0.05 and float(simclr.min()) >= 3 / 4 - 0.05
