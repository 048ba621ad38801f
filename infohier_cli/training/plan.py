"""How long a run trains: its epochs planned from a step count or from a time budget.

Training length is decided by compute, not by a fixed epoch count: a folder of 100 images
gets as many optimiser steps as one of 5,000 (BENCHMARKS.md: the step count, not the epoch
count, is what moved tree quality on small folders).

    auto (--epochs 0):  epochs = ⌈steps / steps_per_epoch⌉,  steps_per_epoch = ⌊n / B⌋
    auto (--steps 0):   steps = ⌈REFERENCE_STEPS · max(1, REFERENCE_SIDE / S) · 2 / c⌉
                        (600 at S ≥ 32 px, 1,200 at 16 px: on the CPU a 16-px step costs
                        0.4 of a 32-px one, so the run still takes less time; the 1,797
                        digits at 16 px gained 0.034 class DP from 600 to 1,200 steps,
                        BENCHMARKS.md "Resolution from content"), c = 2 + V·(s/S)² the
                        pixels of one image's views in full views (`view_cost`: 2 full
                        views and V local ones of side s, `--local-crops`), so local
                        views are paid for with steps, not with time
    --time-budget T:    after e epochs took t_e seconds in all, epochs = max(e, ⌊T·e / t_e⌋),
                        re-planned after every epoch of a new run (a machine that slows
                        down mid-run moves the end forward instead of overrunning)

with n the number of images and B = min(batch_size, n) the global batch (the loader drops
the last incomplete batch). Both are saved resolved in the run's config, so a resumed run
keeps the plan.
"""

from __future__ import annotations

import math

from infohier_cli.config import TrainConfig, budget_seconds

REFERENCE_STEPS, REFERENCE_SIDE = 600, 32  # the auto step count at 32 px and above


def steps_per_epoch(config: TrainConfig, n_images: int) -> int:
    """⌊n / min(B, n)⌋ optimiser steps in one pass over `n_images`."""
    return max(1, n_images // min(config.batch_size, n_images))


def view_cost(config: TrainConfig) -> float:
    """c = 2 + V·(s/S)²: the pixels of one image's views in a step, in full views (S the
    image size, V `local_crops` of side s = augment.local_size(S))."""
    from infohier_cli.training.augment import local_size

    size = config.image_size
    return 2.0 + config.local_crops * (local_size(size) / size) ** 2


def plan_steps(config: TrainConfig) -> TrainConfig:
    """`config` with auto `steps` (0) resolved for its (resolved) image size S:
    ⌈REFERENCE_STEPS · max(1, REFERENCE_SIDE / S) · 2 / view_cost⌉."""
    if config.steps:
        return config
    if not config.image_size:
        raise ValueError("plan_steps needs a resolved image size")
    scale = max(1.0, REFERENCE_SIDE / config.image_size) * 2.0 / view_cost(config)
    return config.replace(steps=math.ceil(REFERENCE_STEPS * scale))


def plan_epochs(config: TrainConfig, n_images: int) -> TrainConfig:
    """`config` with auto `steps` resolved (`plan_steps`), then auto `epochs` (0) resolved
    to ⌈steps / steps_per_epoch⌉."""
    config = plan_steps(config)
    if config.epochs:
        return config
    return config.replace(epochs=math.ceil(config.steps / steps_per_epoch(config, n_images)))


def budget_epochs(config: TrainConfig, elapsed_seconds: float, epochs_done: int = 1) -> int | None:
    """The epochs that fit `config.time_budget` at the mean speed of the `epochs_done`
    epochs that took `elapsed_seconds`, never fewer than those; None without a budget."""
    budget = budget_seconds(config.time_budget)
    if not budget:
        return None
    return max(epochs_done, int(budget * epochs_done // max(elapsed_seconds, 1e-9)))


def describe_plan(config: TrainConfig, n_images: int, bf16: bool = False) -> str:
    """One line for the user: how long this run trains, and why (`bf16`: the encoder runs
    in bfloat16, `--amp`)."""
    per_epoch = steps_per_epoch(config, n_images)
    hierarchical = (
        f"hierarchical loss from epoch {config.warmup + 1}"
        if config.lambda_hc > 0
        else "no hierarchical loss (--lambda-hc 0)"
    )
    size = f" at {config.image_size} px" if config.image_size else ""
    precision = ", bfloat16 encoder" if bf16 else ""
    line = (
        f"plan: {config.epochs} epochs of {per_epoch} steps (batch "
        f"{min(config.batch_size, n_images)}){size}{precision}, {hierarchical}"
    )
    if budget_seconds(config.time_budget):
        line += f"; re-planned for the time budget {config.time_budget} after each epoch"
    return line
