"""`--symmetry auto`: the flips under which a folder's images look like the folder's own."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from infohier_cli.training.symmetry import (
    MIN_IMAGES,
    detect_symmetry,
    flip_ratios,
    mirror_images,
)


def blobs(rng: np.random.Generator, n: int, size: int = 24) -> list[torch.Tensor]:
    """n gray (1, size, size) images of 1-3 bright Gaussian blobs at random places: a
    distribution with no "up" and no left or right."""
    yy, xx = np.mgrid[:size, :size]
    images = []
    for _ in range(n):
        image = np.zeros((size, size))
        for _ in range(int(rng.integers(1, 4))):
            cy, cx = rng.uniform(3, size - 3, 2)
            image += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * rng.uniform(1.5, 3) ** 2))
        images.append(torch.from_numpy(image / image.max()).float()[None])
    return images


def lit_from(images: list[torch.Tensor], left: bool) -> list[torch.Tensor]:
    """The same images lit from the top (and from the left when `left`): a ramp added."""
    size = images[0].shape[-1]
    ramp = torch.linspace(1.0, 0.0, size)
    light = ramp[:, None] + (ramp[None, :] if left else 0.0)
    return [0.5 * image + light for image in images]


def test_flipped_blobs_look_like_the_folder():
    ratios = flip_ratios(blobs(np.random.default_rng(0), 200))
    assert set(ratios) == {"left-right flip", "up-down flip", "quarter turn"}
    assert all(0.8 < ratio < 1.2 for ratio in ratios.values())


@pytest.mark.parametrize(
    ("left", "expected"),
    [(False, "hflip"), (True, "none")],
)
def test_light_from_above_is_an_up_and_light_from_the_left_a_side(left, expected):
    images = lit_from(blobs(np.random.default_rng(1), 200), left)
    symmetry, reason = detect_symmetry(images)
    assert symmetry == expected
    assert "quarter turn" in reason and "\n" not in reason


def test_no_up_is_dihedral_and_the_choice_is_deterministic():
    images = blobs(np.random.default_rng(2), 120)
    assert detect_symmetry(images) == detect_symmetry(images)
    assert detect_symmetry(images)[0] == "dihedral"


def test_too_few_images_keep_the_flips_off():
    images = blobs(np.random.default_rng(3), MIN_IMAGES - 1)
    assert detect_symmetry(images) == ("none", f"fewer than {MIN_IMAGES} images to compare")


def test_many_channels_and_constant_images_do_not_break_it():
    images = [
        torch.cat([image, image.flip(-1), torch.zeros_like(image)])
        for image in blobs(np.random.default_rng(4), 40)
    ]
    images += [torch.ones(3, 24, 24)] * 5
    ratios = flip_ratios(images)
    assert all(np.isfinite(ratio) and ratio > 0 for ratio in ratios.values())


@pytest.mark.parametrize(("symmetry", "size"), [("none", 1), ("hflip", 2), ("dihedral", 8)])
def test_mirror_images_of_a_mirror_image_are_the_same_set(symmetry, size):
    x = torch.rand(2, 3, 5, 5)
    group = mirror_images(x, symmetry)
    assert len(group) == size
    assert len({tuple(g.flatten().tolist()) for g in group}) == size  # all different
    for mirrored in group:
        again = mirror_images(mirrored, symmetry)
        assert sorted(tuple(g.flatten().tolist()) for g in again) == sorted(
            tuple(g.flatten().tolist()) for g in group
        )
    with pytest.raises(ValueError, match="auto"):
        mirror_images(x, "auto")
