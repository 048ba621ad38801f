"""The joint training loop: L = λ_ct·NT-Xent + λ_hc·Dasgupta-triplet, checkpoints, resume.

Optimisers: AdamW for the Euclidean parameters (encoder at lr·encoder_lr_scale, the head's
MLP at lr), geoopt's RiemannianAdam for the head's centre on the ball; cosine schedules.
Randomness is derived from (seed, epoch, ...) — data order, views, triplets — so a resumed
run replays exactly what a straight run would have done, with no RNG state to store.
The same loop runs under torchrun (DDP): see distributed.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, DistributedSampler

from infohier_cli import __version__
from infohier_cli.atomic import atomic_open
from infohier_cli.augment import TwoViews, sample_seed
from infohier_cli.checkpoint import config_of, load_checkpoint, save_checkpoint
from infohier_cli.config import TrainConfig
from infohier_cli.data import (
    ImageSpec,
    discover_images,
    resolve_spec,
    scan_folder,
    write_skipped,
)
from infohier_cli.device import default_workers, pick_device
from infohier_cli.distributed import DistEnv, gather_batch
from infohier_cli.embed import Embeddings, embed_images, save_embeddings
from infohier_cli.errors import UserError
from infohier_cli.losses import (
    dasgupta_triplet_loss,
    joint_loss,
    latent_similarity,
    nt_xent,
    sample_triplets,
)
from infohier_cli.model import InfoHierModel

CHECKPOINT = "checkpoint.pt"
EMBEDDINGS = "embeddings.npz"
LOG = "train_log.jsonl"


@dataclass(frozen=True)
class TrainResult:
    """What a run left behind."""

    run_dir: Path
    epochs: int
    n_images: int
    skipped: list[tuple[str, str]]
    last_epoch_log: dict[str, Any] | None


def _check_run_dir(run_dir: Path, resume: bool, overwrite: bool) -> dict[str, Any] | None:
    """Refuse to clobber an existing run; return the checkpoint to resume, if any."""
    if resume and overwrite:
        raise UserError("--resume and --overwrite contradict each other; pick one")
    checkpoint = run_dir / CHECKPOINT
    if resume:
        if not checkpoint.exists():
            raise UserError(f"nothing to resume: no {CHECKPOINT} in {run_dir}")
        return load_checkpoint(checkpoint)
    if checkpoint.exists() and not overwrite:
        state = load_checkpoint(checkpoint)
        raise UserError(
            f"{run_dir} already holds a run ({len(state['images'])} images from "
            f"{state.get('folder', '?')}, {state['epoch']} epochs); pass --resume to continue "
            "it or --overwrite to replace it, or choose another --run folder")
    return None


def _optimisers(model: InfoHierModel, config: TrainConfig):
    """AdamW on Euclidean parameters, RiemannianAdam on the ball's, cosine schedules."""
    import geoopt

    optimiser = torch.optim.AdamW(
        [{"params": model.encoder.parameters(), "lr": config.lr * config.encoder_lr_scale},
         {"params": model.head.net.parameters(), "lr": config.lr}],
        weight_decay=config.weight_decay)
    riemannian = geoopt.optim.RiemannianAdam([model.head.centre], lr=config.lr)
    schedules = [torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=config.epochs)
                 for o in (optimiser, riemannian)]
    return [optimiser, riemannian], schedules


def _step_losses(model, batch, config: TrainConfig, hc_on: bool, env: DistEnv,
                 generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One forward: (joint, contrastive, hierarchical) losses of a batch of two views."""
    view1, view2 = batch
    b = view1.shape[0]
    z, p, e = model(torch.cat([view1, view2]))
    p1, p2 = gather_batch(p[:b], env), gather_batch(p[b:], env)
    contrastive = nt_xent(p1, p2, config.tau_ct)
    if hc_on:
        z1, e1 = gather_batch(z[:b], env), gather_batch(e[:b], env)
        similarity = latent_similarity(z1, center=config.center_similarity,
                                       detach=config.detach_similarity)
        n = z1.shape[0]
        triplets = sample_triplets(n, config.triplets_per_image * n, generator=generator,
                                   device=z1.device)
        hierarchical = dasgupta_triplet_loss(e1, similarity, triplets, config.tau_hc)
    else:
        hierarchical = contrastive.new_zeros(())
    lambda_hc = config.lambda_hc if hc_on else 0.0
    return joint_loss(contrastive, hierarchical, config.lambda_ct, lambda_hc), contrastive, \
        hierarchical


def train(folder: Path, run_dir: Path, overrides: dict[str, Any] | None = None, *,
          resume: bool = False, overwrite: bool = False, device: str = "auto",
          workers: int | None = None, sync_bn: bool = False, progress: bool = True,
          warn: Callable[[str], None] = print) -> TrainResult:
    """Train (or resume) a model on the images under `folder`; write the run folder.

    `overrides` are TrainConfig fields the user set (None = keep the default, or the
    checkpoint's value when resuming). Raises UserError for anything the user can fix,
    KeyboardInterrupt after saving a checkpoint when interrupted.
    """
    from tqdm import tqdm

    env = DistEnv.from_environment()
    torch_device = pick_device(device)
    if env.active and torch_device.type == "cuda":
        torch_device = torch.device("cuda", env.local_rank)
        torch.cuda.set_device(torch_device)
    env.start(torch_device)
    say = warn if env.is_main else (lambda _message: None)
    folder, run_dir = Path(folder), Path(run_dir)
    try:
        state = _check_run_dir(run_dir, resume, overwrite)
        config = (config_of(state) if state else TrainConfig()).replace(**(overrides or {}))
        paths = discover_images(folder)
        if state:
            channels = int(state["in_channels"])
            spec = ImageSpec(config.image_size, channels, config.intensity)
        else:
            spec = resolve_spec(folder, paths, config.channels, config.image_size,
                                config.intensity)
            channels = spec.channels
            config = config.replace(image_size=spec.size)
        n_workers = default_workers(torch_device) if workers is None else workers
        images, skipped = scan_folder(folder, paths, spec, workers=n_workers, warn=say,
                                      progress=progress and env.is_main)
        if env.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            write_skipped(run_dir, skipped)
        if len(images) < 3:
            raise UserError(f"need at least 3 readable images to train, found {len(images)}")

        torch.manual_seed(config.seed)
        model = InfoHierModel(config, channels)
        if state:
            model.load_state_dict(state["model"])
        model.to(torch_device)
        optimisers, schedules = _optimisers(model, config)
        start_epoch = 0
        if state:
            for optimiser, key in zip(optimisers, ("optimiser", "riemannian_optimiser"),
                                      strict=True):
                optimiser.load_state_dict(state[key])
            for schedule, key in zip(schedules, ("schedule", "riemannian_schedule"), strict=True):
                schedule.load_state_dict(state[key])
                schedule.T_max = config.epochs
            start_epoch = int(state["epoch"])
        network = model
        if env.active:
            if sync_bn:
                if torch_device.type != "cuda":
                    raise UserError("--sync-bn needs CUDA devices (SyncBatchNorm is GPU-only)")
                network = torch.nn.SyncBatchNorm.convert_sync_batchnorm(network)
            network = torch.nn.parallel.DistributedDataParallel(
                network, device_ids=[torch_device.index] if torch_device.type == "cuda" else None,
                find_unused_parameters=True)

        global_batch = min(config.batch_size, len(images))
        local_batch = global_batch // env.world_size
        if local_batch < 1 or local_batch * env.world_size < 3:
            raise UserError(f"--batch-size {config.batch_size} is too small for "
                            f"{env.world_size} processes")
        views = TwoViews(images, config, channels)
        sampler = DistributedSampler(views, num_replicas=env.world_size, rank=env.rank,
                                     shuffle=True, seed=config.seed, drop_last=True)
        loader = DataLoader(views, batch_size=local_batch, sampler=sampler, drop_last=True,
                            num_workers=n_workers, pin_memory=torch_device.type == "cuda")

        def snapshot(epoch: int) -> None:
            if env.is_main:
                save_checkpoint(run_dir / CHECKPOINT, {
                    "config": config.to_json(), "in_channels": channels, "epoch": epoch,
                    "model": model.state_dict(), "images": list(images.paths),
                    "folder": str(folder.resolve()), "version": __version__,
                    "optimiser": optimisers[0].state_dict(),
                    "riemannian_optimiser": optimisers[1].state_dict(),
                    "schedule": schedules[0].state_dict(),
                    "riemannian_schedule": schedules[1].state_dict()})

        log: dict[str, Any] | None = None
        for epoch in range(start_epoch, config.epochs):
            sampler.set_epoch(epoch)
            views.epoch = epoch
            network.train()
            hc_on = epoch >= config.warmup_epochs and config.lambda_hc > 0
            totals = torch.zeros(3)
            steps, seen, started = 0, 0, time.perf_counter()
            bar = tqdm(loader, desc=f"epoch {epoch + 1}/{config.epochs}", unit="batch",
                       disable=not (progress and env.is_main), leave=False)
            try:
                for step, (view1, view2) in enumerate(bar):
                    batch = (view1.to(torch_device, non_blocking=True),
                             view2.to(torch_device, non_blocking=True))
                    generator = torch.Generator().manual_seed(
                        sample_seed(config.seed, epoch, step))
                    losses = _step_losses(network, batch, config, hc_on, env, generator)
                    for optimiser in optimisers:
                        optimiser.zero_grad(set_to_none=True)
                    losses[0].backward()
                    for optimiser in optimisers:
                        optimiser.step()
                    totals += torch.stack([x.detach().float().cpu() for x in losses])
                    steps += 1
                    seen += view1.shape[0] * env.world_size
                    rate = seen / (time.perf_counter() - started)
                    bar.set_postfix(loss=f"{losses[0].item():.4f}",
                                    ct=f"{losses[1].item():.4f}",
                                    hc=f"{losses[2].item():.4f}", img_s=f"{rate:.0f}")
            except KeyboardInterrupt:
                snapshot(epoch)
                raise
            finally:
                bar.close()
            for schedule in schedules:
                schedule.step()
            seconds = time.perf_counter() - started
            mean = (totals / max(steps, 1)).tolist()
            log = {"epoch": epoch + 1, "loss": mean[0], "contrastive": mean[1],
                   "hierarchical": mean[2], "hc_active": hc_on, "images": seen,
                   "seconds": round(seconds, 3), "images_per_s": round(seen / seconds, 2),
                   "lr": optimisers[0].param_groups[1]["lr"]}
            snapshot(epoch + 1)
            if env.is_main:
                _append_log(run_dir / LOG, log)
                say(f"epoch {epoch + 1}/{config.epochs}: loss {mean[0]:.4f} "
                    f"(contrastive {mean[1]:.4f}, hierarchical {mean[2]:.4f}), "
                    f"{seen / seconds:.0f} images/s")

        latent, disk = embed_images(model, images, torch_device, workers=n_workers, env=env,
                                    progress=progress)
        if env.is_main:
            save_embeddings(run_dir / EMBEDDINGS, Embeddings(list(images.paths), latent, disk))
        return TrainResult(run_dir, config.epochs, len(images), skipped, log)
    finally:
        env.stop()


def _append_log(path: Path, entry: dict[str, Any]) -> None:
    """Add one JSON line to the training log, rewriting it atomically."""
    previous = path.read_text(encoding="utf-8") if path.exists() else ""
    with atomic_open(path, "w", encoding="utf-8") as handle:
        handle.write(previous + json.dumps(entry) + "\n")
