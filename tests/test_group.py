"""`--group REGEX`: one sample from several 16-bit channel files, stacked in sorted order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from conftest import TINY_TRAIN, make_folder
from typer.testing import CliRunner

from infohier_cli.cli import app
from infohier_cli.data import ImageSpec, load_sample
from infohier_cli.data.group import group_samples
from infohier_cli.embeddings import load_embeddings
from infohier_cli.errors import UserError

PATTERN = r"(?P<sample>[A-Z]\d\d_s\d)_(?P<channel>w\d+)\.tif"


def write_plate(root: Path) -> Path:
    """A01_s1 and B02_s1 complete (w1, w2, w10), C03_s1 lacks w10, D04_s1 has a broken w2."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for sample in ("A01_s1", "B02_s1", "C03_s1", "D04_s1"):
        for c, channel in enumerate(("w1", "w2", "w10")):
            if sample == "C03_s1" and channel == "w10":
                continue
            path = root / f"{sample}_{channel}.tif"
            if sample == "D04_s1" and channel == "w2":
                path.write_bytes(b"not a tiff")
                continue
            pixels = rng.integers(0, 1000, (16, 16)).astype(np.uint16) + 20000 * c
            tifffile.imwrite(path, pixels)
    (root / "notes.png").write_bytes(b"")  # matches no group: ignored
    return root


def test_grouping_orders_channels_and_reports_incomplete(tmp_path: Path):
    root = write_plate(tmp_path / "plate")
    paths = sorted(p.name for p in root.iterdir())
    samples, skipped, channels = group_samples(paths, PATTERN)
    assert channels == ["w1", "w2", "w10"]
    assert [s.id for s in samples] == ["A01_s1", "B02_s1", "D04_s1"]
    assert samples[0].files == ("A01_s1_w1.tif", "A01_s1_w2.tif", "A01_s1_w10.tif")
    assert skipped == [("C03_s1", "missing channel(s) w10")]
    image = load_sample(root, samples[0], ImageSpec(16, 3, "fixed"))
    means = image.mean(dim=(1, 2))
    assert image.shape == (3, 16, 16) and means[0] < means[1] < means[2]  # 16-bit kept, in order
    with pytest.raises(Exception):  # noqa: B017 - any read error; scan_folder reports it
        load_sample(root, samples[2], ImageSpec(16, 3, "fixed"))
    for bad in ("(?P<sample>.*)", "([", "(?P<sample>x)(?P<channel>y)"):
        with pytest.raises(UserError):
            group_samples(paths, bad)


def test_embed_group_skips_and_names_leaves_by_sample(tmp_path: Path):
    images = make_folder(tmp_path / "rgb", per_class=3)  # 3-channel training images
    runner = CliRunner()
    args = [*TINY_TRAIN, "--epochs", "1", "--run", str(tmp_path / "run")]
    assert runner.invoke(app, ["train", str(images), *args]).exit_code == 0
    plate = write_plate(tmp_path / "plate")
    out = tmp_path / "plate.npz"
    result = runner.invoke(
        app, ["embed", str(plate), "--run", str(tmp_path / "run"), "--out", str(out),
              "--group", PATTERN, "--device", "cpu"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert load_embeddings(out).ids == ["A01_s1", "B02_s1"]
    assert "C03_s1" in result.stderr and "D04_s1" in result.stderr
    skipped = (tmp_path / "skipped.txt").read_text(encoding="utf-8")
    assert "C03_s1\tmissing channel(s) w10" in skipped and "D04_s1\t" in skipped
    bad = runner.invoke(app, ["embed", str(plate), "--run", str(tmp_path / "run"),
                              "--out", str(out), "--group", "(?P<sample>x)"])  # fmt: skip
    assert bad.exit_code == 2 and bad.stderr.startswith("error: ")
