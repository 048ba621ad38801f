"""`train --init-from`: the encoder starts from an earlier run or a torchvision ResNet-18
state dict; anything that cannot fit is one clear error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.models import resnet18
from typer.testing import CliRunner

from infohier_cli.cli import app
from infohier_cli.config import TrainConfig
from infohier_cli.errors import UserError
from infohier_cli.model.network import InfoHierModel
from infohier_cli.run import Checkpoint, load_checkpoint
from infohier_cli.training.init_from import (
    adapt_first_conv,
    encoder_start,
    load_encoder,
    read_init,
)
from infohier_cli.training.train import train

TINY = dict(batch_size=8, image_size=16, width=8, warmup_epochs=0, seed=3, epochs=1)


def run(folder: Path, run_dir: Path, **changes):
    options = {**TINY, **changes}
    flags = {flag: options.pop(flag, False) for flag in ("resume", "overwrite")}
    return train(folder, run_dir, options, **flags, device="cpu", progress=False, warn=print)


def encoder_of(state: dict) -> dict:
    return {k: v for k, v in state.items() if k.startswith("encoder.")}


@pytest.fixture(scope="module")
def torchvision_file(tmp_path_factory) -> Path:
    """A torchvision ResNet-18 state dict as a user would have saved it (random weights)."""
    torch.manual_seed(11)
    path = tmp_path_factory.mktemp("weights") / "resnet18 (lab).pth"
    torch.save(resnet18(weights=None).state_dict(), path)
    return path


def gray_folder(root: Path) -> Path:
    rng = np.random.default_rng(1)
    root.mkdir(parents=True)
    for i in range(9):
        Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(root / f"g{i}.png")
    return root


@pytest.mark.slow
def test_a_run_starts_from_an_earlier_runs_encoder(image_folder, tmp_path):
    run(image_folder, tmp_path / "earlier", epochs=2)
    earlier = load_checkpoint(tmp_path / "earlier" / "checkpoint.pt")
    # a negligible learning rate: after one epoch the weights are still the earlier run's
    run(image_folder, tmp_path / "later", init_from=str(tmp_path / "earlier"), lr=1e-9)
    later = load_checkpoint(tmp_path / "later" / "checkpoint.pt")
    fresh = InfoHierModel(TrainConfig(**{**TINY, "seed": 3}), 3).state_dict()
    for key, value in encoder_of(earlier["model"]).items():
        if value.is_floating_point() and "running" not in key:
            assert torch.allclose(later["model"][key], value, atol=1e-6), key
    conv = "encoder.backbone.layer1.0.conv1.weight"
    assert not torch.allclose(later["model"][conv], fresh[conv], atol=1e-3)
    # the ball head is not taken; the source is kept in the run as provenance
    assert not torch.equal(
        later["model"]["head.net.0.weight"], earlier["model"]["head.net.0.weight"]
    )
    assert TrainConfig.from_json(later["config"]).init_from == str((tmp_path / "earlier").resolve())
    # --resume keeps its own weights: the same --init-from is accepted, another refused
    run(
        image_folder, tmp_path / "later", resume=True, epochs=2, init_from=str(tmp_path / "earlier")
    )
    with pytest.raises(UserError, match="--init-from .* --resume cannot change it"):
        run(image_folder, tmp_path / "later", resume=True, init_from=str(tmp_path / "other"))
    # --overwrite may restart a run folder from its own encoder (read before it is cleared)
    run(
        image_folder,
        tmp_path / "earlier",
        init_from=str(tmp_path / "earlier" / "checkpoint.pt"),
        lr=1e-9,
        overwrite=True,
    )
    again = load_checkpoint(tmp_path / "earlier" / "checkpoint.pt")
    assert torch.allclose(again["model"][conv], earlier["model"][conv], atol=1e-6)


def test_an_earlier_run_of_another_shape_is_refused(image_folder, tmp_path):
    config = TrainConfig(**TINY, latent_symmetry="none", steps=600)  # resolved, as train stores it
    model = InfoHierModel(config, 3)
    checkpoint = Checkpoint(config, 3, 1, model.state_dict(), ["a", "b", "c"])
    checkpoint.save(tmp_path / "checkpoint.pt")
    source = read_init(str(tmp_path))
    start = encoder_start(source, config, 3)
    fresh = InfoHierModel(config.replace(seed=9), 3)
    load_encoder(fresh.encoder, start)
    assert all(
        torch.equal(value, fresh.encoder.state_dict()[key])
        for key, value in model.encoder.state_dict().items()
    )
    for changed, channels, option in [
        (dict(width=16), 3, "--width 8"),
        (dict(proj_dim=32), 3, "--proj-dim 128"),
        ({}, 1, "--channels 3"),
        (dict(image_size=96), 3, "--image-size 16"),
    ]:
        with pytest.raises(UserError, match=f"pass {option}$"):
            encoder_start(source, config.replace(**changed), channels)
    # an altered checkpoint whose weights do not fit its own settings
    state = dict(checkpoint.model)
    state["encoder.backbone.conv1.weight"] = torch.zeros(8, 3, 5, 5)
    Checkpoint(config, 3, 1, state, ["a"]).save(tmp_path / "altered.pt")
    with pytest.raises(
        UserError,
        match=r"'encoder.backbone.conv1.weight' has shape \(8, 3, 5, 5\), .* needs \(8, 3, 3, 3\)",
    ):
        encoder_start(read_init(str(tmp_path / "altered.pt")), config, 3)


def test_torchvision_weights_fill_the_backbone(torchvision_file, tmp_path):
    tv = torch.load(torchvision_file, weights_only=True)
    for size, channels in [(16, 3), (16, 1), (96, 1), (16, 5)]:
        config = TrainConfig(width=64, image_size=size)
        model = InfoHierModel(config, channels)
        projector = {k: v.clone() for k, v in model.encoder.projector.state_dict().items()}
        start = encoder_start(read_init(str(torchvision_file)), config, channels)
        load_encoder(model.encoder, start)
        backbone = model.encoder.backbone.state_dict()
        for key in ("layer1.0.conv1.weight", "layer4.1.bn2.running_var", "bn1.bias"):
            assert torch.equal(backbone[key], tv[key])
        assert all(
            torch.equal(v, model.encoder.projector.state_dict()[k]) for k, v in projector.items()
        )
        kernel = 3 if size <= 64 else 7
        assert backbone["conv1.weight"].shape == (64, channels, kernel, kernel)
        if channels == 5:  # RGB filters repeated over the channels, x 3/5
            resampled = adapt_first_conv(tv["conv1.weight"], 3, kernel)
            expected = resampled[:, [0, 1, 2, 0, 1]] * 0.6
            torch.testing.assert_close(backbone["conv1.weight"], expected)
        else:  # each filter answers a constant grey image as the RGB filter did
            torch.testing.assert_close(
                backbone["conv1.weight"].sum(dim=(1, 2, 3)),
                tv["conv1.weight"].sum(dim=(1, 2, 3)),
                atol=1e-5,
                rtol=1e-5,
            )
    # 7x7 stem, one channel: a grey image gives exactly the RGB response to its 3 copies
    grey = torch.rand(2, 1, 96, 96)
    rgb = torch.nn.functional.conv2d(grey.repeat(1, 3, 1, 1), tv["conv1.weight"], padding=3)
    one = torch.nn.functional.conv2d(grey, adapt_first_conv(tv["conv1.weight"], 1, 7), padding=3)
    torch.testing.assert_close(one, rgb, atol=1e-5, rtol=1e-5)


def test_torchvision_mismatches_are_clear_errors(torchvision_file, tmp_path):
    source = read_init(str(torchvision_file))
    with pytest.raises(UserError, match="width 64; this run has --width 32: pass --width 64"):
        encoder_start(source, TrainConfig(image_size=16), 3)
    state = torch.load(torchvision_file, weights_only=True)
    deeper = {**state, "layer1.2.conv1.weight": torch.zeros(64, 64, 3, 3)}  # a ResNet-34's
    torch.save(deeper, tmp_path / "deeper.pth")
    with pytest.raises(UserError, match="unexpected weight 'layer1.2.conv1.weight'"):
        encoder_start(read_init(str(tmp_path / "deeper.pth")), TrainConfig(width=64), 3)
    del state["layer2.0.downsample.0.weight"]
    torch.save(state, tmp_path / "short.pth")
    with pytest.raises(UserError, match="'layer2.0.downsample.0.weight' is missing"):
        encoder_start(read_init(str(tmp_path / "short.pth")), TrainConfig(width=64), 3)
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(UserError, match="neither an infohier run nor a torchvision ResNet-18"):
        read_init(str(tmp_path / "other.pth"))


class Exploit:
    def __reduce__(self):
        return (Path.touch, (Path(MARKER),))


MARKER = ""


@pytest.mark.slow
def test_cli_init_from_torchvision_and_one_line_errors(torchvision_file, tmp_path):
    global MARKER
    folder = gray_folder(tmp_path / "grey images")
    runner = CliRunner()
    base = ["train", str(folder), "--epochs", "1", "--batch-size", "8", "--device", "cpu"]

    def invoke(run_name: str, *extra: str):
        return runner.invoke(app, [*base, "--run", str(tmp_path / run_name), *extra])

    result = invoke("run", "--init-from", str(torchvision_file), "--width", "64")
    assert result.exit_code == 0, result.output
    assert "torchvision ResNet-18" in result.stderr and "1 channel and a 3x3 stem" in result.stderr
    MARKER = str(tmp_path / "pwned")
    torch.save({"conv1.weight": Exploit()}, tmp_path / "evil.pth")
    state = torch.load(torchvision_file, weights_only=True)
    deeper = {**state, "layer1.2.conv1.weight": torch.zeros(64, 64, 3, 3)}  # a ResNet-34's
    torch.save(deeper, tmp_path / "deeper.pth")
    (tmp_path / "garbage.pth").write_bytes(b"garbage" * 10)
    (tmp_path / "empty").mkdir()
    for extra, message in [
        (["--init-from", str(torchvision_file)], "pass --width 64"),
        (["--init-from", str(tmp_path / "absent.pth")], "no such run folder or weights file"),
        (["--init-from", str(tmp_path / "empty")], "not a run (no checkpoint.pt)"),
        (["--init-from", str(tmp_path / "garbage.pth")], "garbage.pth"),
        (["--init-from", str(tmp_path / "evil.pth")], "refused to load"),
        (["--init-from", str(tmp_path / "run"), "--width", "32"], "pass --width 64"),
        (["--init-from", str(tmp_path / "deeper.pth"), "--width", "64"], "'layer1.2.conv1"),
    ]:
        result = invoke("bad", *extra)
        assert result.exit_code == 2, (extra, result.output)
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
        assert message in result.stderr, result.stderr
    assert not Path(MARKER).exists()
    assert not any((tmp_path / "bad" / name).exists() for name in ("checkpoint.pt", "skipped.txt"))
