"""Every setting defined once: TrainConfig's fields drive `infohier train --help`, the
config's validation, and what `--resume` may change."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import torch
import typer.rich_utils
from typer.testing import CliRunner

from infohier_cli.cli import app
from infohier_cli.config import TrainConfig, option_name
from infohier_cli.errors import UserError
from infohier_cli.run import Checkpoint, RunDir
from infohier_cli.training.train import settle_config

WIDE = {"COLUMNS": "1000", "TERMINAL_WIDTH": "1000", "NO_COLOR": "1"}
COMMANDS = ("train", "embed", "tree", "export", "eval", "report")


def help_blocks(command: str, monkeypatch) -> dict[str, str]:
    """`infohier COMMAND --help` as {option flag: its whole row (flags, type, help)}."""
    monkeypatch.setattr(typer.rich_utils, "MAX_WIDTH", 1000)  # read once at import time
    result = CliRunner().invoke(app, [command, "--help"], env=WIDE)
    assert result.exit_code == 0, result.output
    blocks: dict[str, str] = {}
    current: list[str] = []
    for raw in result.output.splitlines():
        line = raw.strip().strip("│").strip()
        if line.startswith(("-", "*")):
            current = [line]
            for flag in re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", line.split("  ")[0]):
                blocks[flag] = ""  # filled below
            flags = [f for f in blocks if blocks[f] == ""]
            for flag in flags:
                blocks[flag] = current
        elif current and line and not line.startswith(("╭", "╰")):
            current.append(line)
    return {flag: " ".join(rows) for flag, rows in blocks.items()}


def shown_default(config_field: dataclasses.Field) -> str:
    """What --help must print as the default of a TrainConfig field."""
    value = config_field.default
    if config_field.metadata.get("shown"):
        return f"({config_field.metadata['shown']})"  # Typer brackets a custom default
    if isinstance(value, bool):
        flag = config_field.metadata.get("flag")
        on, off = (
            flag.split("/") if flag else (f"--{config_field.name}", f"--no-{config_field.name}")
        )
        return (on if value else off).removeprefix("--").replace("_", "-")
    return str(value)


def test_train_help_shows_every_setting_with_the_configs_default_and_choices(monkeypatch):
    blocks = help_blocks("train", monkeypatch)
    for config_field in dataclasses.fields(TrainConfig):
        flag = option_name(config_field)
        assert flag in blocks, f"{flag} missing from train --help"
        block = blocks[flag]
        defaults = re.findall(r"\[default: ([^\]]*)\]", block)
        assert defaults == [shown_default(config_field)], (flag, block)
        assert config_field.metadata["help"].split(" ")[0] in block, (flag, block)
        for choice in config_field.metadata.get("choices") or ():
            assert re.search(rf"[<|]{re.escape(choice)}[|>]", block), (flag, choice, block)


def test_resume_help_names_every_setting_resume_may_change(monkeypatch):
    block = help_blocks("train", monkeypatch)["--resume"]
    resumable = [
        option_name(f) for f in dataclasses.fields(TrainConfig) if f.metadata.get("resumable")
    ]
    assert "--epochs" in resumable and "--amp" in resumable
    for flag in resumable:
        assert re.search(rf"{re.escape(flag)}\b", block), (flag, block)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_of_every_command_shows_a_default(command, monkeypatch):
    blocks = help_blocks(command, monkeypatch)
    assert len(blocks) > 2
    for flag, block in blocks.items():
        if flag in ("--help", "-h") or "[required]" in block:
            continue
        assert "[default: " in block, (command, flag, block)


def test_tree_source_choices_come_from_the_registry(monkeypatch):
    from infohier_cli.trees.registry import source_names

    block = help_blocks("tree", monkeypatch)["--source"]
    assert f"<{'|'.join(source_names())}>" in block


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"radius": "round"}, "--radius must be one of ('fixed', 'free')"),
        ({"symmetry": "mirror"}, "--symmetry must be one of"),
        ({"intensity": "linear"}, "--intensity must be one of"),
        ({"channels": "many"}, "--channels must be auto, gray, rgb or a number"),
        ({"image_size": 4}, "--image-size must be 0"),
        ({"width": 2}, "--width must be at least 4"),
        ({"r_max": 1.0}, "--r-max must lie in"),
        ({"epochs": -1}, "--epochs must be at least 0"),
        ({"time_budget": "ten minutes"}, "--time-budget must be a duration"),
        ({"warmup_epochs": -2}, "--warmup-epochs must be at least -1"),
        ({"batch_size": 2}, "--batch-size must be at least 3"),
        ({"lambda_ct": 0.0, "lambda_hc": 0.0}, "at least one loss weight"),
        ({"tau_hc": 0.0}, "--tau-hc must be positive"),
        ({"blur_prob": 1.5}, "--blur-prob must lie in"),
        ({"proj_dim": 0}, "--proj-dim must be at least 1"),
        ({"weight_decay": -1.0}, "--weight-decay must be at least 0"),
        ({"lr": float("inf")}, "--lr must be a finite number"),
        ({"weight_decay": float("nan")}, "--weight-decay must be a finite number"),
        ({"lambda_hc": float("nan")}, "--lambda-hc must be a finite number"),
        ({"max_megapixels": float("inf")}, "--max-megapixels must be a finite number"),
        ({"jitter": float("nan")}, "--jitter must be a finite number"),
        ({"seed": 10**20}, "--seed must lie within"),
    ],
)
def test_config_validation_names_the_option(changes, message):
    with pytest.raises(UserError, match=re.escape(message)):
        TrainConfig(**changes)


@pytest.mark.parametrize(
    "megapixels, pixels", [(0.0, 0), (1e-9, 1), (0.3, 300_000), (100.0, 100_000_000)]
)
def test_a_positive_pixel_limit_is_never_no_limit(megapixels, pixels):
    assert TrainConfig(max_megapixels=megapixels).max_pixels == pixels


def test_config_json_round_trip_unknown_keys_ignored_and_missing_ones_as_before():
    config = TrainConfig(width=16, symmetry="dihedral", center_similarity=False)
    assert TrainConfig.from_json(config.to_json()) == config
    older = TrainConfig.from_json('{"width": 8, "from_the_future": 1}')
    # a checkpoint from before --latent-symmetry embedded plainly, whatever today's default;
    # one from before auto --steps planned 600
    assert older == TrainConfig(width=8, latent_symmetry="none", steps=600)
    assert TrainConfig().latent_symmetry == "auto" and TrainConfig().steps == 0
    assert config.replace(width=None, seed=4) == dataclasses.replace(config, seed=4)


def stored(**changes) -> Checkpoint:
    """A saved run: its auto settings are stored resolved, as train stores them."""
    return Checkpoint(
        config=TrainConfig(image_size=16, steps=600, epochs=30, latent_symmetry="none", **changes),
        in_channels=1,
        epoch=2,
        model={},
        samples=["a.png"],
    )


def test_resume_keeps_the_stored_config_and_lets_epochs_change():
    resumed = stored(width=8, seed=3)
    assert settle_config({}, resumed) == resumed.config
    assert settle_config({"epochs": 50}, resumed) == resumed.config.replace(epochs=50)
    assert settle_config({"width": 8, "seed": 3, "image_size": 16}, resumed) == resumed.config
    with pytest.raises(UserError, match="--time-budget and --epochs both set"):
        settle_config({"epochs": 2, "time_budget": "5s"}, None)
    assert settle_config({"steps": 0, "time_budget": "5s"}, None).time_budget == "5s"
    # the values that let train choose keep the stored choice (--epochs 0: the run's plan)
    assert settle_config({"image_size": 0, "symmetry": "auto"}, resumed) == resumed.config
    assert settle_config({"epochs": 0}, resumed) == resumed.config
    with pytest.raises(UserError, match="--epochs 1 is fewer than the 2 this run has trained"):
        settle_config({"epochs": 1}, resumed)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"width": 16}, "--width is 32 in this run; --resume cannot change it"),
        ({"seed": 9}, "--seed is 0 in this run; --resume cannot change it"),
        ({"symmetry": "hflip"}, "--symmetry is none in this run; --resume cannot change it"),
        (
            {"center_similarity": False},
            "--center-similarity is on in this run; --resume cannot change it",
        ),
    ],
)
def test_resume_refuses_a_changed_setting(given, message):
    with pytest.raises(UserError, match=f"^{re.escape(message)}$"):
        settle_config(given, stored())


def test_resume_refusal_is_one_line_on_the_command_line(tmp_path: Path, image_folder):
    run = RunDir(tmp_path / "run")
    stored().save(run.checkpoint)
    result = CliRunner().invoke(
        app, ["train", str(image_folder), "--run", str(run.root), "--resume", "--width", "16"]
    )
    assert result.exit_code == 2
    assert result.stderr == "error: --width is 32 in this run; --resume cannot change it\n"


def test_unknown_checkpoint_schema_version_is_a_clear_error(tmp_path: Path, image_folder):
    run = RunDir(tmp_path / "run")
    run.create()
    torch.save({**stored().to_state(), "format": "infohier-checkpoint/99"}, run.checkpoint)
    result = CliRunner().invoke(app, ["embed", str(image_folder), "--run", str(run.root)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "schema 'infohier-checkpoint/99'" in result.stderr
    assert Checkpoint.load.__func__  # the typed loader is the one the CLI uses
    with pytest.raises(UserError, match="reads only 'infohier-checkpoint/1'"):
        Checkpoint.load(run.checkpoint)


def test_checkpoint_round_trip(tmp_path: Path):
    checkpoint = Checkpoint(
        config=TrainConfig(width=8, image_size=16, steps=600, epochs=4, latent_symmetry="hflip"),
        in_channels=3,
        epoch=4,
        model={"w": torch.ones(2)},
        samples=["x/1.png", "y/2.png"],
        folder="/data",
        version="0.1.0",
    )
    checkpoint.save(tmp_path / "c.pt")
    back = Checkpoint.load(tmp_path / "c.pt")
    assert back.config == checkpoint.config and back.samples == checkpoint.samples
    assert back.epoch == 4 and back.in_channels == 3 and torch.equal(back.model["w"], torch.ones(2))


def test_run_dir_knows_every_file():
    run = RunDir(Path("somewhere"))
    assert [p.name for p in (run.checkpoint, run.embeddings, run.skipped, run.log)] == [
        "checkpoint.pt",
        "embeddings.npz",
        "skipped.txt",
        "train_log.jsonl",
    ]


def test_append_log_keeps_a_damaged_log_line_by_line(tmp_path):
    run = RunDir(tmp_path)
    run.log.write_bytes(b'{"epoch": 2}\n\xff\xfe\n{"epoch": 3')  # garbage, a cut-off line
    run.append_log({"epoch": 4})
    assert run.log.read_bytes() == b'{"epoch": 2}\n\xff\xfe\n{"epoch": 3\n{"epoch": 4}\n'
