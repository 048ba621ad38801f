"""The decoded-image cache (data/cache.py): built once, reused until a file or the spec
changes, never trusted half-written, 8- and 16-bit, readable from DataLoader workers."""

from __future__ import annotations

import gc
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY_TRAIN, make_folder
from PIL import Image
from typer.testing import CliRunner

import infohier_cli.data.read as read_module
from infohier_cli.cli import app
from infohier_cli.data import ImageSpec, discover_images, load_sample, scan_folder
from infohier_cli.data.samples import one_file_samples
from infohier_cli.run import RunDir

SPEC = ImageSpec(16, 3)


def quiet(_message: str) -> None:
    pass


@pytest.fixture
def decoded(monkeypatch) -> list[str]:
    """Names of the files decoded from now on."""
    real, names = read_module.read_pixels, []

    def counting(path, *args):
        names.append(Path(path).name)
        return real(path, *args)

    monkeypatch.setattr(read_module, "read_pixels", counting)
    return names


def scan(folder: Path, cache: Path | None, spec: ImageSpec = SPEC, **kwargs):
    return scan_folder(
        folder, discover_images(folder), spec, cache_dir=cache, warn=quiet, progress=False, **kwargs
    )


def as_array(images) -> np.ndarray:
    return np.stack([images[i].numpy() for i in range(len(images))])


def pixel_files(cache: Path) -> list[Path]:
    return sorted(cache.glob("*.npy"))


def test_built_once_reused_and_exact_for_8bit_images_at_their_size(tmp_path, decoded):
    folder = make_folder(tmp_path / "images", per_class=2)
    first, _ = scan(folder, tmp_path / "cache")
    assert len(decoded) == 6
    (stored,) = pixel_files(tmp_path / "cache")
    assert np.load(stored, mmap_mode="r").dtype == np.uint8
    second, _ = scan(folder, tmp_path / "cache")
    assert len(decoded) == 6  # nothing decoded again
    assert second.ids == first.ids
    expected = [load_sample(folder, s, SPEC).numpy() for s in one_file_samples(first.ids)]
    assert np.array_equal(as_array(second), np.stack(expected))  # bit for bit


def test_a_changed_file_or_spec_rebuilds_the_cache(tmp_path, decoded):
    folder = make_folder(tmp_path / "images", per_class=2)
    cache = tmp_path / "cache"
    before, _ = scan(folder, cache)
    old_file = pixel_files(cache)
    target = folder / "c1" / "img0.png"
    Image.fromarray(np.full((16, 16, 3), 200, np.uint8)).save(target)
    decoded.clear()
    after, _ = scan(folder, cache)
    assert sorted(decoded) == sorted(["img0.png", "img1.png"] * 3)  # all rebuilt
    row = after.ids.index("c1/img0.png")
    assert torch.allclose(after[row], torch.full((3, 16, 16), 200 / 255))
    assert not torch.equal(before[row], after[row])
    assert pixel_files(cache) != old_file and len(pixel_files(cache)) == 1  # old one gone
    # same bytes, touched: rebuilt (the key holds mtime_ns)
    os.utime(target, ns=(1, 1))
    decoded.clear()
    scan(folder, cache)
    assert len(decoded) == 6
    decoded.clear()
    other, _ = scan(folder, cache, ImageSpec(8, 1))
    assert len(decoded) == 6 and other[0].shape == (1, 8, 8)
    assert len(pixel_files(cache)) == 1  # one cache per folder


def test_unreadable_samples_are_reported_again_from_the_cache(tmp_path, decoded):
    folder = make_folder(tmp_path / "images", per_class=2)
    (folder / "bad.png").write_bytes(b"not a png")
    for _ in range(2):
        messages: list[str] = []
        images, skipped = scan_folder(
            folder, discover_images(folder), SPEC, cache_dir=tmp_path / "c", warn=messages.append
        )
        assert [s for s, _ in skipped] == ["bad.png"] and "bad.png" not in images.ids
        assert any("skipped unreadable file 'bad.png'" in m for m in messages)
    assert decoded.count("bad.png") == 1


def test_16bit_images_are_stored_in_uint16_and_mixed_folders_widen(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(folder / "a8.png")
    deep = rng.integers(0, 65536, (16, 16), dtype=np.uint16)
    Image.fromarray(deep).save(folder / "b16.png")
    Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(folder / "c8.png")
    spec = ImageSpec(16, 1, "fixed")
    images, _ = scan(folder, tmp_path / "cache", spec)
    (stored,) = pixel_files(tmp_path / "cache")
    array = np.load(stored, mmap_mode="r")
    assert array.dtype == np.uint16
    assert np.array_equal(array[1, 0], deep)  # fixed intensity, native size: exact
    for i, sample in enumerate(one_file_samples(images.ids)):
        torch.testing.assert_close(images[i], load_sample(folder, sample, spec), rtol=0, atol=1e-6)


def test_an_interrupted_build_leaves_nothing_that_is_trusted(tmp_path, monkeypatch):
    import infohier_cli.data.folder as folder_module

    folder = make_folder(tmp_path / "images", per_class=2)
    cache = tmp_path / "cache"
    real, calls = folder_module.read_sample, []

    def interrupted(*args):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(folder_module, "read_sample", interrupted)
    with pytest.raises(KeyboardInterrupt):
        scan(folder, cache)
    assert sorted(p.name for p in cache.iterdir()) == [f.name for f in cache.glob("*.lock")]
    monkeypatch.undo()
    images, _ = scan(folder, cache)
    assert len(images) == 6


KILLED_BUILD = """
import os, signal, sys
from pathlib import Path
import infohier_cli.data.folder as folder_module
from infohier_cli.data import ImageSpec, discover_images, scan_folder

real, calls = folder_module.read_sample, []
def killed(*args):
    calls.append(1)
    if len(calls) == 4:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(*args)
folder_module.read_sample = killed
folder, cache = Path(sys.argv[1]), Path(sys.argv[2])
scan_folder(folder, discover_images(folder), ImageSpec(16, 3), cache_dir=cache, progress=False)
"""


def test_a_build_killed_by_sigkill_is_rebuilt_and_its_leftovers_removed(tmp_path):
    folder = make_folder(tmp_path / "images", per_class=2)
    cache = tmp_path / "cache"
    scan(folder, cache)  # a complete cache of the folder as it was
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(folder / "c0" / "img0.png")
    child = subprocess.run([sys.executable, "-c", KILLED_BUILD, str(folder), str(cache)])
    assert child.returncode == -9
    assert list(cache.glob(".*.tmp"))  # the half-written pixels of the killed build
    index = json.loads(next(cache.glob("*.json")).read_text())
    assert (cache / index["pixels"]).exists()  # still the old cache, under the old key
    images, _ = scan(folder, cache)
    assert torch.equal(images[images.ids.index("c0/img0.png")], torch.zeros(3, 16, 16))
    assert not list(cache.glob(".*.tmp")) and len(pixel_files(cache)) == 1


def test_workers_map_the_file_themselves(tmp_path):
    folder = make_folder(tmp_path / "images", per_class=2)
    images, _ = scan(folder, tmp_path / "cache")
    expected = as_array(images)  # the map is open in this process now
    assert len(pickle.dumps(images.pixels)) < 1000  # the path, not the pixels
    loader = torch.utils.data.DataLoader(images, batch_size=4, num_workers=2)
    assert np.array_equal(torch.cat(list(loader)).numpy(), expected)


def test_no_cache_folder_or_an_unwritable_one_uses_a_temporary_cache(tmp_path):
    folder = make_folder(tmp_path / "images", per_class=2)
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    messages: list[str] = []
    images, _ = scan_folder(
        folder, discover_images(folder), SPEC, cache_dir=blocker / "cache", warn=messages.append
    )
    assert any("cannot write the image cache" in m for m in messages)
    where = images.pixels.path.parent
    assert where.exists() and len(as_array(images)) == 6
    del images
    gc.collect()
    assert not where.exists()
    images, _ = scan(folder, None)
    where = images.pixels.path.parent
    del images
    gc.collect()
    assert not where.exists()


def test_train_resume_and_embed_of_the_same_folder_decode_it_once(tmp_path, decoded):
    folder = make_folder(tmp_path / "images", per_class=2)
    run = RunDir(tmp_path / "run")
    runner = CliRunner()
    result = runner.invoke(app, ["train", str(folder), "--run", str(run.root), *TINY_TRAIN])
    assert result.exit_code == 0, result.output
    assert len(decoded) == 6 and len(pixel_files(run.cache)) == 1
    result = runner.invoke(app, ["train", str(folder), "--run", str(run.root), "--resume",
                                 "--epochs", "3"])  # fmt: skip
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["embed", str(folder), "--run", str(run.root), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert len(decoded) == 6
