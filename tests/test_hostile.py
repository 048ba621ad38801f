"""Hostile conditions (issue 14): a second writer, Ctrl-C, a diverging loss, --overwrite,
stray temporary files, strange output paths, bad inputs. Each test failed before the fix."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY_TRAIN, make_folder
from typer.testing import CliRunner

from infohier_cli.cli import app
from infohier_cli.run import Checkpoint, RunDir

runner = CliRunner()

ONE_EPOCH = [*TINY_TRAIN, "--epochs", "1", "--width", "4", "--batch-size", "4"]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_line_error(result, code: int = 2) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return make_folder(tmp_path_factory.mktemp("hostile") / "images", per_class=4)


@pytest.fixture(scope="module")
def trained(folder, tmp_path_factory) -> Path:
    """A finished one-epoch run (read-only for the tests that share it)."""
    run = tmp_path_factory.mktemp("trained") / "run"
    assert invoke("train", folder, "--run", run, *ONE_EPOCH).exit_code == 0
    return run


# 1. lock
def test_second_writer_fails_at_once_and_a_stale_lock_does_not_block(folder, tmp_path):
    run = RunDir(tmp_path / "run")
    with run.lock():
        result = invoke("train", folder, "--run", run.root, *ONE_EPOCH)
    assert "in use" in one_line_error(result)
    assert not run.root.exists()  # made for the lock only: removed again
    run.create()
    run.lock_file.write_text("")  # left by a killed process: the kernel dropped its flock
    assert invoke("train", folder, "--run", run.root, *ONE_EPOCH).exit_code == 0


# 2. Ctrl-C
def test_ctrl_c_mid_epoch_keeps_the_last_finished_epoch(folder, trained, tmp_path, monkeypatch):
    import shutil

    import infohier_cli.training.fit as fit_module

    run = tmp_path / "run"
    shutil.copytree(trained, run)
    before = (run / "checkpoint.pt").read_bytes()
    real, calls = fit_module.step_losses, []

    def interrupted(*args):
        calls.append(1)
        if len(calls) == 2:  # second step of epoch 2: one optimiser step already taken
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(fit_module, "step_losses", interrupted)
    result = invoke("train", folder, "--run", run, "--resume", "--epochs", "2")
    assert result.exit_code == 130
    assert "epoch 1" in result.stderr and "unfinished epoch is dropped" in result.stderr
    assert (run / "checkpoint.pt").read_bytes() == before


def test_ctrl_c_while_reading_images_claims_no_checkpoint(folder, tmp_path, monkeypatch):
    import infohier_cli.training.train as train_module

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "scan_folder", interrupted)
    result = invoke("train", folder, "--run", tmp_path / "run", *ONE_EPOCH)
    assert result.exit_code == 130
    assert "no checkpoint was saved" in result.stderr
    assert "checkpoint saved" not in result.stderr


# 3. non-finite loss
def test_nan_loss_stops_keeps_the_last_good_checkpoint(folder, trained, tmp_path, monkeypatch):
    import shutil

    import infohier_cli.training.fit as fit_module

    run = tmp_path / "run"
    shutil.copytree(trained, run)
    before = (run / "checkpoint.pt").read_bytes()
    real = fit_module.step_losses

    def diverging(*args):
        losses = real(*args)
        return (losses[0] * float("nan"), *losses[1:])

    monkeypatch.setattr(fit_module, "step_losses", diverging)
    result = invoke("train", folder, "--run", run, "--resume", "--epochs", "2")
    line = one_line_error(result)
    assert "epoch 2, step 1" in line and "--lr" in line
    assert (run / "checkpoint.pt").read_bytes() == before


# 4. --overwrite starts clean
def test_overwrite_starts_the_run_folder_clean(folder, trained, tmp_path, monkeypatch):
    import shutil

    import infohier_cli.training.train as train_module

    run = RunDir(tmp_path / "run")
    shutil.copytree(trained, run.root)
    with run.log.open("a") as handle:
        handle.write('{"epoch": 99}\n')

    def no_images(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "scan_folder", no_images)
    invoke("train", folder, "--run", run.root, *ONE_EPOCH, "--overwrite")
    assert not run.embeddings.exists() and not run.log.exists() and not run.checkpoint.exists()
    monkeypatch.undo()
    assert invoke("train", folder, "--run", run.root, *ONE_EPOCH, "--overwrite").exit_code == 0
    epochs = [json.loads(line)["epoch"] for line in run.log.read_text().splitlines()]
    assert epochs == [1]


# 7. stray temporary files
def test_stray_tmp_files_are_removed_at_the_next_start(folder, tmp_path):
    run = RunDir(tmp_path / "run")
    run.create()
    stray = run.root / ".checkpoint.pt.k1ll3d.tmp"
    stray.write_bytes(b"half a checkpoint")
    assert invoke("train", folder, "--run", run.root, *ONE_EPOCH).exit_code == 0
    assert not stray.exists()
    assert not list(run.root.glob("*.tmp")) and not list(run.root.glob(".*.tmp"))
