"""`infohier train` as a library call: the run folder, the config, the data, then `fit`.

`train` checks the run folder (never clobbers a run; resumes one on request), settles the
config (a resumed run keeps its stored settings: only `resumable` ones may change), reads
the folder's samples, builds the learner (setup.py), runs the loop (fit.py) with a
checkpoint and a log line after every epoch, and writes the embeddings.
The run folder is locked for the whole run (`RunDir.lock`). Ctrl-C keeps the checkpoint of
the last finished epoch (an unfinished epoch is dropped, so a resume replays it exactly) and
is re-raised as `TrainingInterrupted`, whose message says what was kept.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, DistributedSampler

from infohier_cli import __version__
from infohier_cli.config import TrainConfig, budget_seconds, option_name
from infohier_cli.data import ImageFolder, ImageSpec, resolve_spec, scan_folder
from infohier_cli.data.group import folder_samples
from infohier_cli.data.samples import sample_changes
from infohier_cli.embed import embed_images
from infohier_cli.embeddings import Embeddings, save_embeddings
from infohier_cli.errors import UserError
from infohier_cli.run import Checkpoint, RunDir
from infohier_cli.runtime.device import (
    amp_dtype,
    auto_size_max,
    loader_workers,
    pick_device,
    switched_on,
)
from infohier_cli.runtime.distributed import DistEnv, from_main
from infohier_cli.training.augment import PerImageViews
from infohier_cli.training.batch_views import BatchViews
from infohier_cli.training.fit import fit
from infohier_cli.training.init_from import encoder_start, read_init
from infohier_cli.training.plan import budget_epochs, describe_plan, plan_epochs
from infohier_cli.training.setup import Learner, build_learner
from infohier_cli.training.symmetry import detect_symmetry


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during `train`; `str()` is one line saying which checkpoint was kept."""


def interruption_note(run: RunDir, saved_epoch: int | None, training: bool) -> str:
    """What an interruption left: the last finished epoch's checkpoint, or nothing."""
    where = "during training" if training else "before training started"
    if saved_epoch is None:
        return f"interrupted {where}: no checkpoint was saved"
    return (
        f"interrupted {where}: kept the checkpoint of epoch {saved_epoch} in {run.root} "
        "(an unfinished epoch is dropped); continue with --resume"
    )


@dataclass(frozen=True)
class TrainResult:
    """What a run left behind."""

    run_dir: Path
    epochs: int
    n_images: int
    skipped: list[tuple[str, str]]
    last_epoch_log: dict[str, Any] | None


def open_run(run: RunDir, resume: bool, overwrite: bool) -> Checkpoint | None:
    """Refuse to clobber an existing run; return the checkpoint to resume, if any."""
    if resume and overwrite:
        raise UserError("--resume and --overwrite contradict each other; pick one")
    if resume:
        if not run.holds_run():
            raise UserError(f"nothing to resume: no {run.checkpoint.name} in {run.root}")
        return Checkpoint.load(run.checkpoint)
    if run.holds_run() and not overwrite:
        stored = Checkpoint.load(run.checkpoint)
        raise UserError(
            f"{run.root} already holds a run ({len(stored.samples)} images from "
            f"{stored.folder}, {stored.epoch} epochs); pass --resume to continue "
            "it or --overwrite to replace it, or choose another --run folder"
        )
    return None


def settle_config(given: dict[str, Any], resumed: Checkpoint | None) -> TrainConfig:
    """The run's config: defaults + `given`; or, when resuming, the stored config, where
    a given setting that differs is refused unless the field is `resumable` or the value
    is the field's `auto` (which keeps what the new run chose)."""
    given = {name: value for name, value in given.items() if value is not None}
    if resumed is None:
        config = TrainConfig().replace(**given)
        lengths = [f"--{name}" for name in ("epochs", "steps") if given.get(name)]
        if lengths and budget_seconds(config.time_budget):
            raise UserError(
                f"--time-budget and {' and '.join(lengths)} both set how long a new run "
                "trains: give one of them"
            )
        return config
    stored = resumed.config
    for config_field in dataclasses.fields(TrainConfig):
        name = config_field.name
        if name in given and given[name] == config_field.metadata.get("auto"):
            del given[name]  # the stored value is what train chose for it
        if name in given and not config_field.metadata.get("resumable"):
            if given[name] != getattr(stored, name):
                value = getattr(stored, name)
                shown = ("on" if value else "off") if isinstance(value, bool) else value
                shown = "none" if value == "" else shown
                raise UserError(
                    f"{option_name(config_field)} is {shown} in this run; --resume cannot change it"
                )
    settled = stored.replace(**given)
    if settled.epochs < resumed.epoch:
        raise UserError(
            f"--epochs {settled.epochs} is fewer than the {resumed.epoch} this run has trained; "
            "with --resume it is the new total"
        )
    return settled


def resolve_symmetries(config: TrainConfig, images, say: Callable[[str], None]) -> TrainConfig:
    """`config` with `--symmetry` and `--latent-symmetry` set where they are `auto`: both
    from one look at the (C, S, S) images (training/symmetry.py), said once. They are
    stored resolved, so only a new run (or one from before `--latent-symmetry`) gets here."""
    uses = {"symmetry": "training views", "latent_symmetry": "latents"}
    auto = [name for name in uses if getattr(config, name) == "auto"]
    if not auto:
        return config
    symmetry, reason = detect_symmetry(images)
    say(f"symmetry: {symmetry} for the {' and '.join(uses[n] for n in auto)} (auto: {reason})")
    return config.replace(**dict.fromkeys(auto, symmetry))


def changed_images(trained: list[str], found: list[str], folder: Path) -> str:
    """The --resume error for a folder whose readable samples are not the run's."""
    return (
        f"--resume: the readable images in {folder} are not the ones this run trains on "
        f"({sample_changes(trained, found)}); resume with the same images, or start "
        "a new run (--overwrite or another --run)"
    )


def read_samples(
    folder: Path,
    config: TrainConfig,
    resumed: Checkpoint | None,
    *,
    cache_dir: Path,
    workers: int,
    say: Callable[[str], None],
    progress: bool,
    largest: int,
) -> tuple[TrainConfig, ImageFolder, list[tuple[str, str]]]:
    """Decode the folder's samples with the run's image spec (resolved from the folder for
    a new run, an auto size at most `largest`; size and fit saved resolved in the config). With
    `config.group`, channel files are stacked into samples; the incomplete ones are
    reported with the unreadable. The decoded samples are kept in (or reused from) the
    decoded-image cache in `cache_dir` (data/cache.py)."""
    samples, incomplete = folder_samples(folder, config.group)
    for sample_id, reason in incomplete:
        say(f"warning: skipped sample {sample_id!r} ({reason})")
    if resumed:
        channels = resumed.in_channels
    else:
        resolved = resolve_spec(
            folder, samples, config.channels, config.image_size, config.intensity, largest,
            config.fit, config.max_pixels, say,
        )  # fmt: skip
        config = config.replace(image_size=resolved.size, fit=resolved.fit)
        channels = resolved.channels
    spec = ImageSpec.of_run(config, channels)
    images, skipped = scan_folder(
        folder, samples, spec, cache_dir=cache_dir, workers=workers, warn=say, progress=progress
    )
    return config, images, incomplete + skipped


def make_loader(
    images: ImageFolder, config: TrainConfig, env: DistEnv, workers: int, device: torch.device
) -> DataLoader:
    """Two views per image, each process its share of every global batch; the views are
    made per image by the loader, or with `--batch-augment` on the device (the loader then
    hands over (indices, images), pinned in memory on CUDA)."""
    global_batch = min(config.batch_size, len(images))
    local_batch = global_batch // env.world_size
    if local_batch < 1 or local_batch * env.world_size < 3:
        raise UserError(
            f"--batch-size {config.batch_size} is too small for {env.world_size} processes"
        )
    if switched_on(config.batch_augment, device):
        views = BatchViews(images, config)
    else:
        views = PerImageViews(images, config, images.spec.channels)
    sampler = DistributedSampler(
        views,
        num_replicas=env.world_size,
        rank=env.rank,
        shuffle=True,
        seed=config.seed,
        drop_last=True,
    )
    return DataLoader(
        views,
        batch_size=local_batch,
        sampler=sampler,
        drop_last=True,
        num_workers=workers,
        pin_memory=device.type == "cuda",
    )


def checkpoint_of(learner: Learner, images: ImageFolder, folder: Path, epoch: int) -> Checkpoint:
    return Checkpoint(
        config=learner.config,
        in_channels=images.spec.channels,
        epoch=epoch,
        model=learner.model.state_dict(),
        samples=images.ids,
        folder=str(folder.resolve()),
        version=__version__,
        optimisers=learner.optimiser_states(),
    )


def train(
    folder: Path,
    run_dir: Path,
    overrides: dict[str, Any] | None = None,
    *,
    resume: bool = False,
    overwrite: bool = False,
    device: str = "auto",
    workers: int | None = None,
    sync_bn: bool = False,
    progress: bool = True,
    warn: Callable[[str], None] = print,
) -> TrainResult:
    """Train (or resume) a model on the samples under `folder`; write the run folder.

    `overrides` are TrainConfig fields the user set (None = keep the default, or the
    checkpoint's value when resuming). Raises UserError for anything the user can fix
    (also a non-finite loss: the last good checkpoint is kept), TrainingInterrupted on
    Ctrl-C (the last finished epoch's checkpoint is kept).
    """
    env = DistEnv.from_environment()
    torch_device = pick_device(device)
    if env.active and torch_device.type == "cuda":
        torch_device = torch.device("cuda", env.local_rank)
        torch.cuda.set_device(torch_device)
    env.start(torch_device)
    say = warn if env.is_main else (lambda _message: None)
    folder, run = Path(folder), RunDir(run_dir)
    held = contextlib.ExitStack()
    saved: list[int] = []  # epochs whose checkpoint this call (or the resumed run) wrote
    try:
        if env.is_main:
            held.enter_context(run.lock())
        resumed = open_run(run, resume, overwrite)
        saved += [resumed.epoch] if resumed else []
        given = dict(overrides or {})
        if given.get("init_from"):  # stored absolute: provenance, and --resume compares it
            given["init_from"] = str(Path(given["init_from"]).resolve())
        config = settle_config(given, resumed)
        # read before --overwrite clears the folder, which may be the one it names
        init = read_init(config.init_from) if config.init_from and not resumed else None
        n_workers = loader_workers(torch_device, workers, say)
        config, images, skipped = read_samples(
            folder,
            config,
            resumed,
            cache_dir=run.cache,
            workers=n_workers,
            say=say,
            progress=progress and env.is_main,
            largest=auto_size_max(torch_device),
        )
        if resumed and images.ids != resumed.samples:  # files skipped before may stay
            raise UserError(changed_images(resumed.samples, images.ids, folder))
        # a misfit of --init-from is refused before the plan is said or anything written
        start = encoder_start(init, config, images.spec.channels) if init else None
        if len(images) < 3:
            raise UserError(f"need at least 3 readable images to train, found {len(images)}")
        config = plan_epochs(config, len(images))
        if not resumed:
            bf16 = amp_dtype(config.amp, torch_device) is not None
            say(describe_plan(config, len(images), bf16))
        config = resolve_symmetries(config, images, say)
        if start:
            say(start.note)
        learner = build_learner(
            config, images.spec.channels, torch_device, env, resumed, sync_bn, start
        )
        loader = make_loader(images, config, env, n_workers, torch_device)
        # --overwrite clears the old run only once the new one can start (under torchrun,
        # after DDP's first broadcast: every rank has read its --init-from by then)
        if env.is_main:
            if overwrite:
                run.clear()
            run.create()
            run.write_skipped(skipped)

        def save(epoch: int) -> None:
            if env.is_main:
                checkpoint_of(learner, images, folder, epoch).save(run.checkpoint)
            saved.append(epoch)

        started = time.monotonic()

        def epoch_done(epoch: int, log: dict[str, Any]) -> None:
            planned = None
            if budget_seconds(config.time_budget) and not resumed:  # a collective: only then
                elapsed = time.monotonic() - started
                planned = from_main(budget_epochs(config, elapsed, epoch), env)
            if planned and (epoch == 1 or planned != learner.config.epochs):
                learner.replan(planned, epoch)
                say(
                    f"time budget {config.time_budget}: {epoch} epoch(s) took {elapsed:.1f} s, "
                    f"so {planned} epochs in all"
                )
            save(epoch)
            if env.is_main:
                run.append_log(log)
                say(
                    f"epoch {epoch}/{learner.config.epochs}: loss {log['loss']:.4f} "
                    f"(contrastive {log['contrastive']:.4f}, hierarchical "
                    f"{log['hierarchical']:.4f}), {log['images_per_s']:.0f} images/s"
                )

        log = fit(
            learner,
            loader,
            resumed.epoch if resumed else 0,
            on_epoch_end=epoch_done,
            progress=progress,
        )
        if resumed and saved[-1] == resumed.epoch and learner.config != resumed.config:
            save(resumed.epoch)  # no epoch ran: store the new settings (--latent-symmetry)
        latent, disk = embed_images(
            learner.model, images, torch_device, symmetry=config.latent_symmetry,
            workers=n_workers, env=env, progress=progress,
        )  # fmt: skip
        if env.is_main:
            trained = learner.config.lambda_hc > 0
            save_embeddings(run.embeddings, Embeddings(images.ids, latent, disk, trained))
        env.stop(finished=True)
        return TrainResult(run.root, learner.config.epochs, len(images), skipped, log)
    except KeyboardInterrupt:
        note = interruption_note(run, saved[-1] if saved else None, "learner" in locals())
        raise TrainingInterrupted(note) from None
    finally:
        held.close()
        env.stop()
