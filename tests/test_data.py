"""Image discovery and loading: every format a lab hands over, odd names, bad files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

import infohier_cli.data.read as data_module
from infohier_cli.data import (
    ImageSpec,
    discover_images,
    load_image,
    resolve_channels,
    resolve_fit,
    resolve_image_size,
    resolve_spec,
    sample_shapes,
    scan_folder,
)
from infohier_cli.data.background import background_fit, border_share
from infohier_cli.data.detail import detail_lost, detail_side
from infohier_cli.data.read import AUTO_SIZE_MAX
from infohier_cli.errors import UserError
from infohier_cli.runtime.device import auto_size_max

ODD_NAMES = [
    "with space.png",
    "quote's.png",
    'double"q.png',
    "paren(1).png",
    "co:lon.png",
    "com,ma.png",
    "semi;colon.png",
    "[bracket].png",
    "tab\there.png",
    "ünï日本.png",
    "under_score.png",
]


def gray(size: int = 20) -> np.ndarray:
    return (np.arange(size * size).reshape(size, size) % 256).astype(np.uint8)


def test_discovery_is_recursive_sorted_and_skips_hidden_and_other_files(tmp_path: Path):
    for rel in ["b/x.PNG", "a/y.jpeg", "z.TiF", "c/d/e.webp", "f.BMP", "g.gif", "h.JPG"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    for rel in [".hidden.png", ".dir/i.png", "notes.txt", "table.csv"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    found = discover_images(tmp_path)
    assert found == sorted(
        ["b/x.PNG", "a/y.jpeg", "z.TiF", "c/d/e.webp", "f.BMP", "g.gif", "h.JPG"]
    )


def test_odd_names_survive_exactly(tmp_path: Path):
    for name in ODD_NAMES:
        Image.fromarray(gray()).save(tmp_path / name)
    (tmp_path / "sub dir (2)").mkdir()
    Image.fromarray(gray()).save(tmp_path / "sub dir (2)" / "a'b.png")
    assert discover_images(tmp_path) == sorted(ODD_NAMES + ["sub dir (2)/a'b.png"])


def test_symlink_loop_terminates_without_duplicates(tmp_path: Path):
    (tmp_path / "a").mkdir()
    Image.fromarray(gray()).save(tmp_path / "a" / "one.png")
    os.symlink(tmp_path, tmp_path / "a" / "loop")
    assert discover_images(tmp_path) == ["a/one.png"]


def test_links_to_folders_under_the_root_keep_the_real_paths(tmp_path: Path):
    outside = tmp_path / "outside"
    (outside / "deep").mkdir(parents=True)
    Image.fromarray(gray()).save(outside / "deep" / "far.png")
    root = tmp_path / "root"
    (root / "m real").mkdir(parents=True)
    Image.fromarray(gray()).save(root / "m real" / "one.png")
    for name in ("a link", "z link"):  # listed before and after the real folder
        os.symlink(root / "m real", root / name)
    os.symlink(outside, root / "b outside")  # a folder reached only through its link
    assert discover_images(root) == ["b outside/deep/far.png", "m real/one.png"]


def test_a_folder_that_cannot_be_listed_is_reported_not_silently_lost(tmp_path, monkeypatch):
    """chmod 000 does not stop root, so the refusal is the listing's own (os.scandir)."""
    from infohier_cli.data.group import folder_samples

    for folder in ("locked", "open"):
        (tmp_path / folder).mkdir()
        Image.fromarray(gray()).save(tmp_path / folder / "one.png")
    real_scandir = os.scandir

    def scandir(path):
        if os.path.basename(path) in ("locked", "shut root"):
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    samples, left_out = folder_samples(tmp_path)
    assert [sample.id for sample in samples] == ["open/one.png"]
    assert left_out == [
        ("locked/", "a folder that cannot be read (Permission denied): its images are left out")
    ]
    (tmp_path / "shut root").mkdir()
    with pytest.raises(UserError, match="cannot read the folder .*shut root: Permission denied"):
        discover_images(tmp_path / "shut root")


@pytest.mark.parametrize("problem", ["missing", "file", "empty"])
def test_bad_folders_are_user_errors(tmp_path: Path, problem: str):
    target = tmp_path / "x"
    if problem == "file":
        target.write_text("not a folder")
    elif problem == "empty":
        target.mkdir()
        (target / "readme.txt").write_text("no images")
    with pytest.raises(UserError):
        discover_images(target)


def _save(tmp_path: Path, name: str, array: np.ndarray, mode: str | None = None) -> Path:
    path = tmp_path / name
    Image.fromarray(array, mode=mode).save(path) if mode else Image.fromarray(array).save(path)
    return path


@pytest.mark.parametrize("kind", ["L", "RGB", "RGBA", "P", "CMYK", "1", "I;16", "LA"])
def test_pillow_modes_load_to_unit_range(tmp_path: Path, kind: str):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    img = Image.fromarray(rgb)
    if kind == "I;16":
        img = Image.fromarray((rng.integers(300, 1500, (24, 32))).astype(np.uint16))
    elif kind != "RGB":
        img = img.convert(kind)
    path = tmp_path / ("x.tif" if kind == "CMYK" else "x.png")
    if kind == "CMYK":
        path = tmp_path / "x.jpg"
    img.save(path)
    for channels in (1, 3):
        tensor = load_image(path, ImageSpec(size=16, channels=channels))
        assert tensor.shape == (channels, 16, 16)
        assert tensor.dtype == torch.float32
        assert 0.0 <= float(tensor.min()) and float(tensor.max()) <= 1.0
        assert float(tensor.std()) > 0


def test_exif_orientation_turns_a_camera_jpeg_upright(tmp_path: Path):
    from infohier_cli.data.read import read_pixels, read_shape

    stored = np.zeros((20, 40, 3), dtype=np.uint8)  # stored landscape, left half bright
    stored[:, :20] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise: portrait, bright half on top
    path = tmp_path / "camera.jpg"
    Image.fromarray(stored).save(path, exif=exif, quality=95)
    pixels = read_pixels(path)
    assert pixels.shape == read_shape(path) == (3, 40, 20)
    assert pixels[:, :20].mean() > 200 > 50 > pixels[:, 20:].mean()


def test_shapes_come_from_headers_without_decoding(tmp_path: Path, monkeypatch):
    from PIL import ImageFile

    from infohier_cli.data.read import read_shape

    paths = [_save(tmp_path, "x.png", gray()), _save(tmp_path, "x.jpg", gray())]

    def no_decoding(self):
        raise AssertionError("pixels decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    assert [read_shape(path)[1:] for path in paths] == [gray().shape] * 2


def test_sixteen_bit_keeps_dynamic_range(tmp_path: Path):
    ramp = np.linspace(300, 1500, 64 * 64).reshape(64, 64).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    tifffile.imwrite(tmp_path / "deep.tif", ramp)
    for name in ("deep.png", "deep.tif"):
        tensor = load_image(tmp_path / name, ImageSpec(size=64, channels=1))
        values = torch.unique(tensor)
        assert len(values) > 200  # not saturated to a few levels
        assert float(tensor.min()) < 0.02 and float(tensor.max()) > 0.98
    fixed = load_image(tmp_path / "deep.tif", ImageSpec(64, 1, intensity="fixed"))
    assert abs(float(fixed.max()) - 1500 / 65535) < 1e-3


def test_float_and_multichannel_tiffs(tmp_path: Path):
    rng = np.random.default_rng(0)
    tifffile.imwrite(tmp_path / "float.tif", rng.normal(5.0, 2.0, (30, 40)).astype(np.float32))
    tifffile.imwrite(tmp_path / "stack.tif", rng.integers(0, 4000, (5, 30, 30), dtype=np.uint16))
    tifffile.imwrite(
        tmp_path / "rgbish.tif",
        rng.integers(0, 255, (30, 30, 3), dtype=np.uint8),
        photometric="rgb",
    )
    flt = load_image(tmp_path / "float.tif", ImageSpec(16, 1))
    assert flt.shape == (1, 16, 16) and 0 <= float(flt.min()) and float(flt.max()) <= 1
    stack = load_image(tmp_path / "stack.tif", ImageSpec(16, 5))
    assert stack.shape == (5, 16, 16)
    assert not torch.equal(stack[0], stack[1])
    assert load_image(tmp_path / "rgbish.tif", ImageSpec(16, 3)).shape == (3, 16, 16)
    assert resolve_channels("auto", sample_shapes(tmp_path, ["stack.tif"])) == 5


def test_float_tiffs_with_infinities_or_beyond_float32_and_page_bombs(tmp_path: Path):
    ramp = np.linspace(0.0, 1.0, 256, dtype=np.float32).reshape(16, 16)
    with_inf = ramp.copy()
    with_inf[0, :4] = [np.inf, -np.inf, np.nan, np.inf]
    tifffile.imwrite(tmp_path / "inf.tif", with_inf)
    finite = with_inf[np.isfinite(with_inf)]
    ramp[0, :4] = [finite.max(), finite.min(), 0.0, finite.max()]  # ±inf: the extremes; NaN: 0
    tifffile.imwrite(tmp_path / "finite.tif", ramp)
    for intensity in ("fixed", "percentile"):
        image = load_image(tmp_path / "inf.tif", ImageSpec(16, 1, intensity))
        assert torch.equal(image, load_image(tmp_path / "finite.tif", ImageSpec(16, 1, intensity)))
    tifffile.imwrite(tmp_path / "all inf.tif", np.full((16, 16), np.inf, np.float32))
    tifffile.imwrite(tmp_path / "huge.tif", ramp.astype(np.float64) * 1e300)
    tifffile.imwrite(tmp_path / "pages.tif", np.zeros((30, 100, 100), np.uint8))  # 0.3 M values
    for name, reason in (("all inf", "no finite"), ("huge", "beyond float32")):
        with pytest.raises(ValueError, match=reason):
            load_image(tmp_path / f"{name}.tif", ImageSpec(16, 1))
    with pytest.raises(ValueError, match="x 30 channels or pages is over the limit"):
        load_image(tmp_path / "pages.tif", ImageSpec(16, 1, max_pixels=50_000))
    assert load_image(tmp_path / "pages.tif", ImageSpec(16, 1, max_pixels=100_000)).shape[0] == 1
    tifffile.imwrite(tmp_path / "rgb.tif", np.zeros((100, 100, 3), np.uint8), photometric="rgb")
    assert load_image(tmp_path / "rgb.tif", ImageSpec(16, 3, max_pixels=10_000)).shape[0] == 3


@pytest.mark.parametrize(
    ("sides", "expected"),
    [([8, 8, 9], 16), ([12], 24), ([28, 30], 32), ([500, 2000], 32), ([], 32)],
)
def test_auto_image_size_is_twice_the_median_side_within_bounds(sides, expected):
    shapes = [(1, side, side + 3) for side in sides]
    assert resolve_image_size(0, shapes, AUTO_SIZE_MAX, "crop") == expected
    assert resolve_image_size(20, shapes, AUTO_SIZE_MAX, "crop") == 20
    padded = [(1, side - 3, side) for side in sides]  # pad squares on the long side
    assert resolve_image_size(0, padded, AUTO_SIZE_MAX, "pad") == expected


@pytest.mark.parametrize(
    ("sides", "expected"), [([12], 24), ([28, 30], 64), ([500, 2000], 64), ([], 64)]
)
def test_a_gpu_auto_image_size_allows_up_to_64(sides, expected):
    shapes = [(1, side, side) for side in sides]
    assert resolve_image_size(0, shapes, auto_size_max(torch.device("cuda")), "crop") == expected
    assert auto_size_max(torch.device("cpu")) == 32


def test_resolve_spec_samples_the_folder_only_for_auto(tmp_path: Path, monkeypatch):
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / "rgb.png")
    assert resolve_spec(tmp_path, ["rgb.png"], "auto", 0) == ImageSpec(16, 3)
    assert resolve_spec(tmp_path, ["rgb.png"], "gray", 0) == ImageSpec(16, 1)

    def no_sampling(*_args):
        raise AssertionError("the folder was sampled although nothing was 'auto'")

    monkeypatch.setattr(data_module, "sample_shapes", no_sampling)
    assert resolve_spec(tmp_path, ["rgb.png"], "gray", 24, "fixed") == ImageSpec(24, 1, "fixed")


def upscaled_folder(root: Path, detail: int, stored: int, count: int = 12) -> Path:
    """`count` random `detail` x `detail` grey pictures stored bicubic-upscaled to `stored` px."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        small = Image.fromarray(rng.integers(0, 256, (detail, detail), dtype=np.uint8))
        small.resize((stored, stored), Image.BICUBIC).save(root / f"p{i}.png")
    return root


def test_auto_size_shrinks_to_the_detail_the_images_hold(tmp_path: Path):
    said: list[str] = []
    folder = upscaled_folder(tmp_path / "upscaled", detail=8, stored=32)
    names = sorted(p.name for p in folder.iterdir())
    assert resolve_spec(folder, names, "auto", 0, say=said.append).size == 16
    assert len(said) == 1 and said[0].startswith("image size: 16 px (auto:")
    assert resolve_spec(folder, names, "auto", 32, say=said.append).size == 32  # asked for
    # the pixel limit holds for the images judged too: none is decoded, the side stays
    assert resolve_spec(folder, names, "auto", 0, max_pixels=1000, say=said.append).size == 32
    sharp = upscaled_folder(tmp_path / "sharp", detail=32, stored=32)
    assert resolve_spec(sharp, names, "auto", 0, say=said.append).size == 32
    # stored smaller than the size rule's side: enlarged, never judged by its detail
    small = upscaled_folder(tmp_path / "small", detail=4, stored=12)
    assert resolve_spec(small, names, "auto", 0, say=said.append).size == 24
    assert len(said) == 1


def test_detail_lost_is_a_share_of_the_variance():
    flat = torch.full((1, 2, 32, 32), 0.3)
    assert detail_lost(flat, 16).tolist() == [0.0]
    noise = torch.rand(3, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    lost = detail_lost(noise, 16)
    assert bool(((lost > 0.3) & (lost < 1.0)).all())  # white noise keeps ~1/4 of itself
    assert detail_side(noise, 16) == (32, 0.0)
    assert detail_side(torch.zeros(0, 1, 32, 32), 16) == (32, 0.0)


def test_crop_keeps_the_centred_square(tmp_path: Path):
    wide = np.zeros((10, 30), dtype=np.uint8)
    wide[:, 10:20] = 255  # only the centred square is white
    Image.fromarray(wide).save(tmp_path / "wide.png")
    tensor = load_image(tmp_path / "wide.png", ImageSpec(10, 1))
    assert torch.all(tensor == 1.0)


def test_pad_keeps_the_whole_image_on_its_border_median(tmp_path: Path):
    tall = np.full((30, 10, 3), (200, 100, 50), dtype=np.uint8)  # the background
    tall[1:-1, 1:-1] = (10, 20, 30)  # the object fills the crop but its 1-px border
    tall[0, :3] = 255  # a few odd border pixels do not move the median
    Image.fromarray(tall).save(tmp_path / "tall.png")
    tensor = load_image(tmp_path / "tall.png", ImageSpec(30, 3, fit="pad"))
    background = torch.tensor([200, 100, 50]) / 255
    assert torch.allclose(tensor[:, :, :10], background[:, None, None].expand(3, 30, 10))
    assert torch.allclose(tensor[:, :, -10:], background[:, None, None].expand(3, 30, 10))
    assert torch.equal(tensor[:, 1:-1, 11:19], torch.tensor([10, 20, 30])[:, None, None].expand(
        3, 28, 8) / 255)  # fmt: skip


def test_pad_resizes_a_long_image_to_fit_then_fills_around_it(tmp_path: Path):
    long = np.full((10, 400), 250, dtype=np.uint8)
    long[1:-1, 1:-1] = 0  # a dark bar, 40 times as wide as high
    Image.fromarray(long).save(tmp_path / "long.png")
    tensor = load_image(tmp_path / "long.png", ImageSpec(40, 1, fit="pad"))[0]
    assert torch.allclose(tensor[:19], torch.tensor(250 / 255))  # the fill above the bar
    assert torch.allclose(tensor[20:], torch.tensor(250 / 255))  # and below it
    assert tensor[19, 5:-5].max() < 0.5  # the bar, 1 px high, across the whole width


def test_fit_does_not_change_square_images(tmp_path: Path):
    Image.fromarray(gray()).save(tmp_path / "square.png")
    pad, crop = (
        load_image(tmp_path / "square.png", ImageSpec(12, 1, fit=f)) for f in ("pad", "crop")
    )
    assert torch.equal(pad, crop)


def test_border_share_is_near_zero_on_a_background_and_near_one_on_texture():
    rng = np.random.default_rng(0)
    crop = np.full((1, 20, 40), 230.0) + rng.normal(0, 1, (1, 20, 40))  # light background
    crop[:, 4:-4, 4:-4] = rng.uniform(0, 120, (1, 12, 32))  # a dark, textured object
    assert border_share(crop) < 0.1
    assert 0.8 < border_share(rng.uniform(0, 255, (3, 20, 40))) < 1.2
    assert border_share(np.zeros((2, 5, 9), dtype=np.uint16)) == 0.0  # flat: no spread
    assert background_fit([]) == ("crop", pytest.approx(float("nan"), nan_ok=True))


def tight_crops(root: Path, background: bool, square: bool = False) -> list[str]:
    """Six 8-bit gray images: a dark object on a light background, or noise everywhere."""
    rng = np.random.default_rng(1)
    root.mkdir()
    for i in range(6):
        h, w = (24, 24) if square else (20, 30 + 4 * i)
        image = rng.integers(0, 256, (h, w)).astype(np.uint8)
        if background:
            image[:] = 225 + rng.integers(0, 5, (h, w))
            image[3:-3, 3:-3] = rng.integers(0, 120, (h - 6, w - 6))
        Image.fromarray(image).save(root / f"c{i}.png")
    return sorted(p.name for p in root.iterdir())


def test_auto_fit_pads_objects_on_a_background_and_crops_full_frames(tmp_path: Path):
    said: list[str] = []
    crops = tight_crops(tmp_path / "crops", background=True)
    assert resolve_fit(tmp_path / "crops", crops, "auto", say=said.append) == "pad"
    frames = tight_crops(tmp_path / "frames", background=False)
    assert resolve_fit(tmp_path / "frames", frames, "auto", say=said.append) == "crop"
    assert [m.split(" (")[0] for m in said] == ["fit: pad", "fit: crop"]
    squares = tight_crops(tmp_path / "squares", background=True, square=True)
    assert resolve_fit(tmp_path / "squares", squares, "auto", say=said.append) == "crop"
    assert len(said) == 2  # square images: nothing to decide, nothing said
    assert resolve_fit(tmp_path / "frames", frames, "pad", say=said.append) == "pad"  # asked for
    assert resolve_spec(tmp_path / "crops", crops, "auto", 0).fit == "pad"
    with pytest.raises(ValueError, match="resolved"):
        load_image(tmp_path / "crops" / crops[0], ImageSpec(16, 1, fit="auto"))


def test_unreadable_files_are_skipped_and_reported(tmp_path: Path):
    Image.fromarray(gray()).save(tmp_path / "good.png")
    (tmp_path / "zero.png").write_bytes(b"")
    (tmp_path / "fake.jpg").write_text("this is not a jpeg")
    Image.fromarray(gray(64)).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(data[: len(data) // 2])
    (tmp_path / "full.png").unlink()
    messages: list[str] = []
    images, skipped = scan_folder(
        tmp_path, discover_images(tmp_path), ImageSpec(8, 1), warn=messages.append, progress=False
    )
    assert images.paths == ["good.png"]
    assert sorted(p for p, _ in skipped) == ["fake.jpg", "truncated.png", "zero.png"]
    assert sum("skipped unreadable file" in m for m in messages) == 3
    assert any("skipped 3 unreadable" in m for m in messages)
    assert images[0].shape == (1, 8, 8)


def test_a_run_stores_the_fit_auto_chose(tmp_path: Path):
    from infohier_cli.run import Checkpoint, RunDir
    from infohier_cli.training.train import train

    tight_crops(tmp_path / "crops", background=True)
    messages: list[str] = []
    options = dict(batch_size=4, width=4, epochs=1, warmup_epochs=0)
    train(tmp_path / "crops", tmp_path / "run", options, progress=False, warn=messages.append)
    assert Checkpoint.load(RunDir(tmp_path / "run").checkpoint).config.fit == "pad"
    assert any(m.startswith("fit: pad (auto:") for m in messages)
