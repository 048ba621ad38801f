"""The training loop: L = λ_ct·NT-Xent + λ_hc·Dasgupta-triplet, epoch after epoch.

`fit` is the loop; `run_epoch` one pass over the data; `step_losses` one forward;
`epoch_log` the line `train_log.jsonl` gets per epoch.
Checkpoints, logs and the run folder are not handled here: `fit` reports each finished
epoch to `on_epoch_end` (see train.py); a NaN/inf loss raises `NonFiniteLoss` when the
losses are next read back (within `SHOW_EVERY_S`, or at the epoch's end), so no checkpoint
of that epoch is written. The loop reads nothing back from the device at other times.
Randomness is derived from (seed, epoch, step) — data order, views, triplets — so a resumed
run replays exactly what a straight run would have done, with no RNG state to store.
The same loop runs under torchrun (DDP): `gather_batch` makes the losses global. The
loader's dataset makes the views (augment.PerImageViews, per image) or hands the batch over for
them to be made on the device (batch_views.BatchViews); `--amp` autocasts the forward and
`--channels-last` sets the views' memory format (runtime/device.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch

from infohier_cli.config import TrainConfig
from infohier_cli.errors import UserError
from infohier_cli.runtime.device import autocast, one_thread
from infohier_cli.runtime.distributed import DistEnv, gather_batch
from infohier_cli.training.augment import sample_seed
from infohier_cli.training.losses import (
    dasgupta_triplet_loss,
    joint_loss,
    latent_similarity,
    multi_crop_nt_xent,
    sample_triplets,
)
from infohier_cli.training.setup import Learner

SHOW_EVERY_S = 1.0  # seconds between reading the losses back for the progress bar


class NonFiniteLoss(UserError):
    """The loss became NaN or inf: training stops before its epoch is saved."""

    def __init__(self, value: float, epoch: int, step: int, lr: float) -> None:
        kept = f"the checkpoint of epoch {epoch} is kept" if epoch else "nothing was saved"
        super().__init__(
            f"the loss became {value} in epoch {epoch + 1}, step {step + 1}; training "
            f"stopped and {kept}; try a lower --lr (this run: {lr:g})"
        )


def fit(
    learner: Learner,
    loader,
    start_epoch: int,
    *,
    on_epoch_end: Callable[[int, dict], None],
    progress: bool = True,
) -> dict[str, Any] | None:
    """Train from `start_epoch` to `learner.config.epochs`; -> the last epoch's log (None
    if none).

    `loader.sampler` and `loader.dataset` (PerImageViews or BatchViews) are told the epoch
    before each pass.
    """
    log, epoch = None, start_epoch
    while epoch < learner.config.epochs:  # on_epoch_end may re-plan the epochs (budget)
        config = learner.config
        loader.sampler.set_epoch(epoch)
        loader.dataset.epoch = epoch
        learner.network.train()
        hc_on = epoch >= config.warmup and config.lambda_hc > 0
        totals, steps, seen, seconds = run_epoch(learner, loader, epoch, hc_on, progress)
        for schedule in learner.schedules:
            schedule.step()
        log = epoch_log(learner, epoch, hc_on, totals / max(steps, 1), seen, seconds)
        epoch += 1
        on_epoch_end(epoch, log)
    return log


def epoch_log(
    learner: Learner, epoch: int, hc_on: bool, mean: torch.Tensor, seen: int, seconds: float
) -> dict[str, Any]:
    """The log line of a finished epoch (after its schedule step: `lr` is the next one)."""
    loss, contrastive, hierarchical = mean.tolist()
    return {
        "epoch": epoch + 1,
        "loss": loss,
        "contrastive": contrastive,
        "hierarchical": hierarchical,
        "hc_active": hc_on,
        "images": seen,
        "seconds": round(seconds, 3),
        "images_per_s": round(seen / seconds, 2),
        "lr": learner.optimisers[0].param_groups[1]["lr"],
    }


def run_epoch(
    learner: Learner, loader, epoch: int, hc_on: bool, progress: bool
) -> tuple[torch.Tensor, int, int, float]:
    """One pass -> (summed (joint, contrastive, hierarchical) losses, steps, images, s).

    The losses stay on the device: they are read back (a host-device sync on a GPU) only
    when the progress bar shows them, every `SHOW_EVERY_S`, and at the epoch's end. Each
    read checks the joint losses of the steps since the last one for NaN/inf.
    """
    from tqdm import tqdm

    config, env, device = learner.config, learner.env, learner.device
    totals = torch.zeros(3, device=device)
    unchecked: list[torch.Tensor] = []  # joint losses of the steps not yet read back
    steps, seen, started = 0, 0, time.perf_counter()
    shown = started
    bar = tqdm(
        loader,
        desc=f"epoch {epoch + 1}/{config.epochs}",
        unit="batch",
        disable=not (progress and env.is_main),
        leave=False,
    )
    try:
        for step, loaded in enumerate(bar):
            batch = tuple(
                view.contiguous(memory_format=learner.memory_format)
                for view in loader.dataset.on_device(loaded, device)
            )
            generator = torch.Generator().manual_seed(sample_seed(config.seed, epoch, step))
            losses = step_losses(learner.network, batch, config, hc_on, env, generator, learner.amp)
            current = torch.stack([x.detach().float() for x in losses])
            unchecked.append(current[0])
            now = time.perf_counter()
            if now - shown >= SHOW_EVERY_S:
                check_finite(unchecked, step, epoch, config.lr)
                loss, ct, hc = current.tolist()
                rate = (seen + batch[0].shape[0] * env.world_size) / (now - started)
                bar.set_postfix(
                    loss=f"{loss:.4f}", ct=f"{ct:.4f}", hc=f"{hc:.4f}", img_s=f"{rate:.0f}"
                )
                shown = now
            for optimiser in learner.optimisers:
                optimiser.zero_grad(set_to_none=True)
            losses[0].backward()
            with one_thread():  # small element-wise updates (runtime/device.py)
                for optimiser in learner.optimisers:
                    optimiser.step()
            totals += current
            steps += 1
            seen += batch[0].shape[0] * env.world_size
        check_finite(unchecked, steps - 1, epoch, config.lr)
    finally:
        bar.close()
    return totals, steps, seen, time.perf_counter() - started


def check_finite(unchecked: list[torch.Tensor], last_step: int, epoch: int, lr: float) -> None:
    """Raise NonFiniteLoss at the first NaN/inf among `unchecked`, the joint losses (scalars
    on the device) of the steps up to `last_step`; then empty the list. One sync."""
    if not unchecked:
        return
    values = torch.stack(unchecked).cpu()
    first = last_step + 1 - len(unchecked)
    unchecked.clear()
    bad = (~torch.isfinite(values)).nonzero()
    if len(bad):
        k = int(bad[0, 0])
        raise NonFiniteLoss(values[k].item(), epoch, first + k, lr)


def step_losses(
    model,
    batch,
    config: TrainConfig,
    hc_on: bool,
    env: DistEnv,
    generator: torch.Generator,
    amp: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One forward: (joint, contrastive, hierarchical) losses of a batch of two views (and
    any local views after them, `--local-crops`); with `amp`, the model's forward is
    autocast to that dtype (the losses stay float32). The hierarchical loss sees the
    first full view."""
    view1, view2, *local = batch
    b = view1.shape[0]
    with autocast(amp, view1.device):
        z, p, e = model(torch.cat([view1, view2]))
        local_p = model(torch.cat(local))[1].split(b) if local else ()
    p1, p2 = gather_batch(p[:b], env), gather_batch(p[b:], env)
    local_p = [gather_batch(q, env) for q in local_p]
    contrastive = multi_crop_nt_xent(p1, p2, local_p, config.tau_ct)
    if hc_on:
        z1, e1 = gather_batch(z[:b], env), gather_batch(e[:b], env)
        similarity = latent_similarity(
            z1,
            center=config.center_similarity,
            detach=config.detach_similarity,
            knn=config.similarity_knn,
        )
        n = z1.shape[0]
        triplets = sample_triplets(
            n, config.triplets_per_image * n, generator=generator, device=z1.device
        )
        hierarchical = dasgupta_triplet_loss(e1, similarity, triplets, config.tau_hc)
    else:
        hierarchical = contrastive.new_zeros(())
    lambda_hc = config.lambda_hc if hc_on else 0.0
    return (
        joint_loss(contrastive, hierarchical, config.lambda_ct, lambda_hc),
        contrastive,
        hierarchical,
    )
