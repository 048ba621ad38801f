"""The training-length planner: auto epochs from a step count, and the time budget."""

from __future__ import annotations

import json

import numpy as np
import pytest

from infohier_cli.config import TrainConfig, budget_seconds
from infohier_cli.training.plan import (
    budget_epochs,
    describe_plan,
    plan_epochs,
    plan_steps,
    steps_per_epoch,
)
from infohier_cli.training.train import train


@pytest.mark.parametrize(
    ("n_images", "batch", "steps", "epochs"),
    [(240, 64, 600, 200), (5000, 64, 600, 8), (105, 64, 600, 600), (10, 64, 7, 7), (130, 64, 5, 3)],
)
def test_auto_epochs_come_from_the_step_count(n_images, batch, steps, epochs):
    config = TrainConfig(batch_size=batch, steps=steps)
    planned = plan_epochs(config, n_images)
    assert planned.epochs == epochs
    assert planned.epochs * steps_per_epoch(config, n_images) >= steps
    assert (planned.epochs - 1) * steps_per_epoch(config, n_images) < steps


@pytest.mark.parametrize(("size", "steps"), [(16, 1200), (24, 800), (32, 600), (64, 600)])
def test_auto_steps_give_smaller_images_more_steps(size, steps):
    assert plan_steps(TrainConfig(image_size=size)).steps == steps
    assert plan_steps(TrainConfig(image_size=size, steps=7)).steps == 7
    assert plan_epochs(TrainConfig(image_size=size), 1280).epochs == steps // 20


@pytest.mark.parametrize(("size", "local", "steps"), [(32, 2, 480), (32, 4, 400), (16, 2, 960)])
def test_local_views_are_paid_for_with_steps(size, local, steps):
    # c = 2 + V/4 full views' pixels per image: 2 local views at 32 px cost 2.5/2 of a step
    assert plan_steps(TrainConfig(image_size=size, local_crops=local)).steps == steps


def test_explicit_epochs_are_kept_and_warmup_follows_the_epochs():
    assert plan_epochs(TrainConfig(epochs=7, image_size=32), 10_000).epochs == 7
    assert TrainConfig(epochs=30).warmup == 5
    assert TrainConfig(epochs=30, warmup_epochs=2).warmup == 2


def test_the_plan_line_names_when_the_hierarchical_loss_starts():
    joint = describe_plan(TrainConfig(epochs=30), 240)
    assert joint.startswith("plan: 30 epochs of 3 steps (batch 64)")
    assert "hierarchical loss from epoch 6" in joint
    ssl_only = describe_plan(TrainConfig(epochs=30, lambda_hc=0.0), 240)
    assert "no hierarchical loss (--lambda-hc 0)" in ssl_only and "from epoch" not in ssl_only
    sized = describe_plan(TrainConfig(epochs=30, image_size=24), 240)
    assert sized.startswith("plan: 30 epochs of 3 steps (batch 64) at 24 px, ")
    bf16 = describe_plan(TrainConfig(epochs=30, image_size=24), 240, bf16=True)
    assert bf16.startswith("plan: 30 epochs of 3 steps (batch 64) at 24 px, bfloat16 encoder, ")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0.0),
        ("90s", 90.0),
        ("10m", 600.0),
        ("1.5h", 5400.0),
        ("2", 120.0),
        ("x", None),
        ("-1m", None),
        ("", None),
    ],
)
def test_budget_durations(text, seconds):
    assert budget_seconds(text) == seconds


def test_budget_epochs_from_the_mean_speed_so_far():
    assert budget_epochs(TrainConfig(), 3.0) is None
    assert budget_epochs(TrainConfig(time_budget="1m"), 7.0) == 8
    assert budget_epochs(TrainConfig(time_budget="1s"), 7.0) == 1
    # after 3 epochs in 30 s, 6 fit in a minute; a slowed machine ends the run early,
    # but never before the epochs already done
    assert budget_epochs(TrainConfig(time_budget="1m"), 30.0, 3) == 6
    assert budget_epochs(TrainConfig(time_budget="1m"), 120.0, 4) == 4


def test_a_time_budget_replans_the_run_after_its_first_epoch(image_folder, tmp_path):
    messages: list[str] = []
    result = train(
        image_folder,
        tmp_path / "run",
        dict(batch_size=8, image_size=16, width=4, time_budget="0.001s"),
        progress=False,
        warn=messages.append,
    )
    assert result.epochs == 1
    assert any("time budget 0.001s" in m and "1 epochs in all" in m for m in messages)
    lines = (tmp_path / "run" / "train_log.jsonl").read_text(encoding="utf-8").splitlines()
    log = [json.loads(line) for line in lines]
    assert [entry["epoch"] for entry in log] == [1]


def test_replanning_keeps_a_warm_up_that_has_ended():
    import torch

    from infohier_cli.runtime.distributed import DistEnv
    from infohier_cli.training.setup import build_learner

    learner = build_learner(
        TrainConfig(width=4, image_size=16, epochs=60), 3, torch.device("cpu"), DistEnv()
    )
    assert learner.config.warmup == 10
    learner.replan(30, done=2)  # the hierarchical loss has not started: follows the plan
    assert (learner.config.epochs, learner.config.warmup) == (30, 5)
    learner.replan(120, done=6)  # it started after epoch 5: stays on
    assert (learner.config.epochs, learner.config.warmup) == (120, 5)
    assert all(schedule.T_max == 120 for schedule in learner.schedules)


def test_upscaled_pictures_train_smaller_for_more_steps(tmp_path):
    from PIL import Image

    from infohier_cli.run import Checkpoint, RunDir

    rng = np.random.default_rng(0)
    folder = tmp_path / "upscaled"
    folder.mkdir()
    for i in range(8):  # 8x8 pictures stored as 32-px files, as the digits are
        small = Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8))
        small.resize((32, 32), Image.BICUBIC).save(folder / f"p{i}.png")
    messages: list[str] = []
    options = dict(batch_size=4, width=4, epochs=1, warmup_epochs=0)
    train(folder, tmp_path / "run", options, progress=False, warn=messages.append)
    config = Checkpoint.load(RunDir(tmp_path / "run").checkpoint).config
    assert (config.image_size, config.steps) == (16, 1200)
    assert any(m.startswith("image size: 16 px (auto:") for m in messages)
