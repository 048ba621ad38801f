"""Samples, not paths: a sample has an id and one or more files; the id travels."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from infohier_cli.data import (
    ImageSpec,
    Sample,
    discover_samples,
    load_sample,
    one_file_samples,
    scan_folder,
)


def test_default_sample_is_one_file_whose_path_is_its_id(tmp_path):
    for rel in ["b/x.png", "a/y.png"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(tmp_path / rel)
    assert discover_samples(tmp_path) == [
        Sample("a/y.png", ("a/y.png",)),
        Sample("b/x.png", ("b/x.png",)),
    ]
    assert one_file_samples(["p.png"]) == [Sample("p.png", ("p.png",))]
    with pytest.raises(ValueError):
        Sample("empty", ())


def test_a_sample_of_several_files_stacks_their_channels(tmp_path):
    Image.fromarray(np.full((8, 8), 255, dtype=np.uint8)).save(tmp_path / "dna.png")
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(tmp_path / "actin.png")
    sample = Sample("field-1", ("dna.png", "actin.png"))
    image = load_sample(tmp_path, sample, ImageSpec(8, 2))
    assert image.shape == (2, 8, 8)
    assert torch.all(image[0] == 1.0) and torch.all(image[1] == 0.0)


def test_scanned_folder_and_skips_carry_sample_ids(tmp_path):
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "bad.png").write_bytes(b"nope")
    samples = [Sample("first", ("a.png",)), Sample("second", ("bad.png",))]
    images, skipped = scan_folder(
        tmp_path, samples, ImageSpec(8, 1), warn=lambda _m: None, progress=False
    )
    assert images.ids == ["first"] and [s for s, _ in skipped] == ["second"]
