"""Embedding samples with a trained model: forward passes only (no augmentation).

`embed_images` is the forward pass over a decoded folder (sharded under torchrun), each
image's latent pooled over its mirror images (`--latent-symmetry`); `embed_folder` is
`infohier embed`: discover, read, embed, write npz or CSV.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from infohier_cli.data.samples import sample_changes
from infohier_cli.embeddings import Embeddings, save_embeddings, write_csv
from infohier_cli.errors import UserError
from infohier_cli.run import Checkpoint, RunDir, landing_run, write_skipped
from infohier_cli.runtime.distributed import DistEnv, gather_rows, shard_range
from infohier_cli.training.symmetry import mirror_images


@torch.inference_mode()
def embed_images(
    model,
    images,
    device: torch.device,
    *,
    symmetry: str = "none",
    batch_size: int = 256,
    workers: int = 0,
    env: DistEnv | None = None,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Every image's latent and ball point -> (latent (N, D), disk (N, d)), float32,
    dataset order; `symmetry` names the mirror images each latent is pooled over
    (`pooled_forward`).

    Under torchrun each rank embeds a contiguous shard; every rank gets the full result.
    """
    from torch.utils.data import DataLoader, Subset
    from tqdm import tqdm

    env = env or DistEnv()
    shard = shard_range(len(images), env)
    loader = DataLoader(
        Subset(images, list(shard)),
        batch_size=batch_size,
        num_workers=workers,
        pin_memory=device.type == "cuda",
    )
    was_training = model.training
    model.eval()
    latents, points = [], []
    bar = tqdm(
        total=len(images),
        desc="embedding",
        unit="img",
        disable=not (progress and env.is_main),
        leave=False,
    )
    for batch in loader:
        z, e = pooled_forward(model, batch.to(device, non_blocking=True), symmetry)
        latents.append(z.float().cpu())
        points.append(e.float().cpu())
        bar.update(len(batch) * env.world_size)
    bar.close()
    model.train(was_training)
    latent = gather_rows(_cat(latents, model.encoder.latent_dim), len(images), env)
    disk = gather_rows(_cat(points, model.head.centre.shape[0]), len(images), env)
    return latent.numpy(), disk.numpy()


def pooled_forward(model, images: torch.Tensor, symmetry: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, C, S, S) -> (z̄ (B, D), e (B, d)): the latent averaged over the images' mirror
    images g(x) (training/symmetry.py `mirror_images`) and its ball point,

        z̄(x) = (1/|G|) Σ_{g ∈ G} f(g x),   e = E(z̄),

    so z̄ and e are the same for every g(x); with `none`, G = {identity}: the plain
    forward pass."""
    latents = [model(mirror)[0] for mirror in mirror_images(images, symmetry)]
    latent = torch.stack(latents).mean(0)
    with torch.autocast(images.device.type, enabled=False):
        return latent, model.head(latent)


def _cat(chunks: list[torch.Tensor], width: int) -> torch.Tensor:
    return torch.cat(chunks) if chunks else torch.zeros(0, width)


def embed_folder(
    folder: Path,
    run_dir: Path,
    out: Path,
    fmt: str,
    *,
    device: str = "auto",
    batch_size: int = 256,
    workers: int | None = None,
    with_latent: bool = False,
    warn: Callable[[str], None] = print,
    progress: bool = True,
    group: str | None = None,
) -> tuple[int, list[tuple[str, str]]]:
    """Embed every readable sample under `folder` with the run's model; write npz or csv.

    -> (number embedded, skipped (id, reason)). Under torchrun only rank 0 writes; the
    skipped files are listed where `skipped_list` says.
    """
    env = DistEnv.from_environment()
    result, skipped = embed_samples(
        folder, run_dir, device=device, batch_size=batch_size, workers=workers, warn=warn,
        progress=progress, env=env, group=group,
    )  # fmt: skip
    if env.is_main:
        refuse_other_samples(out, folder, result.ids)
        if fmt == "csv":
            write_csv(out, result, with_latent)
        else:
            save_embeddings(out, result)
        listed = skipped_list(out)
        if listed is not None:
            write_skipped(listed, skipped)
    return len(result.ids), skipped


def refuse_other_samples(out: Path | str, folder: Path, ids: list[str]) -> None:
    """UserError when `out` is a run's own embeddings.npz and `ids` are not the samples
    that run trained on (images added or gone since, another --group): the run's tree and
    `assign` read that file as the run's."""
    own = own_embeddings(out)
    if own is None:
        return
    trained = Checkpoint.load(own.checkpoint).samples
    if set(ids) != set(trained):
        raise UserError(
            f"the readable samples in {folder} are not the ones the run in {own.root} "
            f"trained on ({sample_changes(trained, ids)}), so they cannot replace its "
            "embeddings.npz; give --out another file"
        )


def skipped_list(out: Path | str) -> Path | None:
    """Where `embed` lists the skipped samples of output `out` (after writing it): the
    run's `skipped.txt` when `out` is a run's `embeddings.npz`, `OUT.skipped.txt` beside
    any other file, none for stdout or a pipe (the warnings on stderr name them)."""
    if str(out) == "-" or not Path(out).is_file():
        return None
    own = own_embeddings(out)
    return own.skipped if own is not None else Path(out).with_name(Path(out).name + ".skipped.txt")


def own_embeddings(out: Path | str) -> RunDir | None:
    """The run whose own `embeddings.npz` the output `out` is (links followed), or None."""
    landing = landing_run(out)
    return landing[0] if landing is not None and landing[1] == landing[0].embeddings.name else None


def embed_samples(
    folder: Path,
    run_dir: Path,
    *,
    device: str = "auto",
    batch_size: int = 256,
    workers: int | None = None,
    warn: Callable[[str], None] = print,
    progress: bool = True,
    env: DistEnv | None = None,
    group: str | None = None,
) -> tuple[Embeddings, list[tuple[str, str]]]:
    """Embed every readable sample under `folder` with the run's model, in memory.

    `group`: a `--group` regex stacking channel files into samples (data/group.py); None =
    the run's own (the one it was trained with), "" = each file a sample. The decoded
    samples are kept in (or reused from) the run's decoded-image cache (`RunDir.cache`).
    -> (Embeddings, skipped (id, reason)); every rank gets the full result."""
    from infohier_cli.data import ImageSpec, scan_folder
    from infohier_cli.data.group import folder_samples
    from infohier_cli.run import load_model
    from infohier_cli.runtime.device import loader_workers, pick_device

    env = env or DistEnv.from_environment()
    torch_device = pick_device(device)
    model, checkpoint = load_model(RunDir(run_dir).checkpoint)
    config = checkpoint.config
    samples, incomplete = folder_samples(folder, config.group if group is None else group)
    for sample_id, reason in incomplete if env.is_main else []:
        warn(f"warning: skipped sample {sample_id!r} ({reason})")
    model.to(torch_device)
    spec = ImageSpec.of_run(config, checkpoint.in_channels)
    say = warn if env.is_main else (lambda _m: None)
    n_workers = loader_workers(torch_device, workers, say)
    env.start(torch_device)
    try:
        images, skipped = scan_folder(
            folder,
            samples,
            spec,
            cache_dir=RunDir(run_dir).cache,
            workers=n_workers,
            warn=say,
            progress=progress and env.is_main,
        )
        latent, disk = embed_images(
            model,
            images,
            torch_device,
            symmetry=config.latent_symmetry,
            batch_size=batch_size,
            workers=n_workers,
            env=env,
            progress=progress,
        )
        env.stop(finished=True)
    finally:
        env.stop()
    trained = config.lambda_hc > 0
    return Embeddings(images.ids, latent, disk, trained), incomplete + skipped
