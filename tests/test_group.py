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
PATTERN_P = r"(?P<sample>P\d\d_s\d)_(?P<channel>w\d)\.tif"


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
    # a group that took no part in a match (optional, or in another branch) is no match
    optional = r"(?P<sample>[A-Z]\d\d_s\d)?_(?P<channel>w\d+)\.tif|(?P<other>notes)"
    assert [s.id for s in group_samples(paths + ["_w1.tif"], optional)[0]] == [
        s.id for s in samples
    ]


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
    skipped = (tmp_path / "plate.npz.skipped.txt").read_text(encoding="utf-8")
    assert "C03_s1\tmissing channel(s) w10" in skipped and "D04_s1\t" in skipped
    assert not (tmp_path / "skipped.txt").exists()  # another command's list is not replaced
    binary = runner.invoke(app, ["embed", str(plate), "--run", str(tmp_path / "run"), "--out",
                                 "-", "--format", "npz", "--group", PATTERN])  # fmt: skip
    assert binary.exit_code == 2 and binary.stderr.startswith("error: --out - writes csv")
    bad = runner.invoke(app, ["embed", str(plate), "--run", str(tmp_path / "run"),
                              "--out", str(out), "--group", "(?P<sample>x)"])  # fmt: skip
    assert bad.exit_code == 2 and bad.stderr.startswith("error: ")


def write_channel_plate(root: Path, n: int = 10) -> Path:
    """`n` complete two-channel 16-bit samples (w1, w2), plus P98_s1 lacking w2 and P99_s1
    whose w2 is unreadable."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for i in [*range(n), 98, 99]:
        for c, channel in enumerate(("w1", "w2")):
            path = root / f"P{i:02d}_s1_{channel}.tif"
            if (i, channel) == (98, "w2"):
                continue
            if (i, channel) == (99, "w2"):
                path.write_bytes(b"not a tiff")
                continue
            level = 30000 * ((i + c) % 2)
            tifffile.imwrite(path, (rng.integers(0, 2000, (20, 20)) + level).astype(np.uint16))
    return root


def test_train_group_trains_on_stacked_samples_and_the_run_keeps_the_regex(tmp_path: Path):
    from infohier_cli.run import Checkpoint, RunDir

    plate = write_channel_plate(tmp_path / "plate")
    run = tmp_path / "run"
    runner = CliRunner()
    common = ["--run", str(run), "--epochs", "1", "--image-size", "16", "--width", "4",
              "--batch-size", "8", "--device", "cpu"]  # fmt: skip
    result = runner.invoke(app, ["train", str(plate), "--group", PATTERN_P, *common])
    assert result.exit_code == 0, result.output
    samples = [f"P{i:02d}_s1" for i in range(10)]
    assert load_embeddings(RunDir(run).embeddings).ids == samples
    checkpoint = Checkpoint.load(RunDir(run).checkpoint)
    assert checkpoint.in_channels == 2 and checkpoint.config.group == PATTERN_P
    skipped = (run / "skipped.txt").read_text(encoding="utf-8")
    assert "P98_s1\tmissing channel(s) w2" in skipped and "P99_s1\t" in skipped
    assert "P98_s1" in result.stderr and "P99_s1" in result.stderr

    # embed and assign of the run group the same way without being told
    out = tmp_path / "again.csv"
    embedded = runner.invoke(app, ["embed", str(plate), "--run", str(run), "--out", str(out)])
    assert embedded.exit_code == 0, embedded.output
    assert [row.split(",")[0] for row in out.read_text().splitlines()[1:]] == samples
    placed = runner.invoke(app, ["assign", str(plate), "--run", str(run), "-k", "1"])
    assert placed.exit_code == 0, placed.output
    assert [row.split(",")[0] for row in placed.stdout.splitlines()[1:]] == samples

    # --resume keeps the regex, refuses another one
    other = r"(?P<sample>P\d\d)_s1_(?P<channel>w\d)\.tif"
    changed = runner.invoke(app, ["train", str(plate), "--resume", "--run", str(run),
                                  "--group", other, "--epochs", "2"])  # fmt: skip
    assert changed.exit_code == 2 and changed.stderr.startswith("error: --group is ")
    assert len(changed.stderr.strip().splitlines()) == 1
    kept = runner.invoke(app, ["train", str(plate), "--resume", "--run", str(run),
                               "--epochs", "2", "--device", "cpu"])  # fmt: skip
    assert kept.exit_code == 0, kept.output
    assert load_embeddings(RunDir(run).embeddings).ids == samples


@pytest.mark.parametrize("bad", ["([", "(?P<sample>x)", r"(?P<sample>Z)(?P<channel>\d)"])
def test_train_bad_group_is_one_line_error(tmp_path: Path, bad: str):
    plate = write_channel_plate(tmp_path / "plate", n=3)
    result = CliRunner().invoke(
        app, ["train", str(plate), "--group", bad, "--run", str(tmp_path / "run")]
    )
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: --group") and result.stderr.count("\n") == 1
