"""Embeddings: forward passes (no augmentation) and the `embeddings.npz` / CSV files.

`embeddings.npz` holds `paths` (N strings), `latent` (N x D float32, the encoder's z) and
`disk` (N x d float32, the point in the Poincaré ball), rows in the same order.
"""

from __future__ import annotations

import csv
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from infohier_cli.atomic import atomic_open, open_output
from infohier_cli.distributed import DistEnv, gather_rows, shard_range
from infohier_cli.errors import UserError


@dataclass(frozen=True)
class Embeddings:
    """paths (N,), latent (N, D) (None when not loaded), disk (N, d), one row per image."""

    paths: list[str]
    latent: np.ndarray | None
    disk: np.ndarray


@torch.inference_mode()
def embed_images(model, images, device: torch.device, *, batch_size: int = 256,
                 workers: int = 0, env: DistEnv | None = None, progress: bool = True
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Forward every image once -> (latent (N, D), disk (N, d)), float32, dataset order.

    Under torchrun each rank embeds a contiguous shard; every rank gets the full result.
    """
    from torch.utils.data import DataLoader, Subset
    from tqdm import tqdm

    env = env or DistEnv()
    shard = shard_range(len(images), env)
    loader = DataLoader(Subset(images, list(shard)), batch_size=batch_size,
                        num_workers=workers, pin_memory=device.type == "cuda")
    was_training = model.training
    model.eval()
    latents, points = [], []
    bar = tqdm(total=len(images), desc="embedding", unit="img",
               disable=not (progress and env.is_main), leave=False)
    for batch in loader:
        z, _, e = model(batch.to(device, non_blocking=True))
        latents.append(z.float().cpu())
        points.append(e.float().cpu())
        bar.update(len(batch) * env.world_size)
    bar.close()
    model.train(was_training)
    latent = gather_rows(_cat(latents, model.encoder.latent_dim), len(images), env)
    disk = gather_rows(_cat(points, model.head.centre.shape[0]), len(images), env)
    return latent.numpy(), disk.numpy()


def _cat(chunks: list[torch.Tensor], width: int) -> torch.Tensor:
    return torch.cat(chunks) if chunks else torch.zeros(0, width)


def save_embeddings(path: Path, embeddings: Embeddings) -> None:
    """Write `embeddings.npz` atomically."""
    with atomic_open(path, "wb") as handle:
        np.savez(handle, paths=np.array(embeddings.paths, dtype=str),
                 latent=embeddings.latent.astype(np.float32),
                 disk=embeddings.disk.astype(np.float32))


def load_embeddings(path: Path, with_latent: bool = True) -> Embeddings:
    """Read an embeddings file written by `save_embeddings`; UserError if missing or bad.
    `with_latent=False` leaves the (large) latent matrix on disk."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no embeddings file at {path} (run `infohier train` or "
                        "`infohier embed` first, or pass --embeddings)")
    try:
        with np.load(path, allow_pickle=False) as data:
            paths, disk = data["paths"], data["disk"]
            latent = data["latent"] if with_latent else None
    except (KeyError, ValueError, OSError, zipfile.BadZipFile, EOFError) as error:
        raise UserError(f"cannot read embeddings {path} ({type(error).__name__})") from None
    rows = len(paths) if latent is None else len(latent)
    if not (len(paths) == rows == len(disk)) or disk.ndim != 2 or len(paths) == 0:
        raise UserError(f"embeddings {path} are inconsistent or empty")
    return Embeddings([str(p) for p in paths], latent, disk)


def write_csv(path: Path | str | None, embeddings: Embeddings, with_latent: bool) -> None:
    """CSV: path, x0..x{d-1} (ball coordinates), then z0..z{D-1} if `with_latent`.
    `path` None or '-' writes to stdout."""
    header = ["path"] + [f"x{i}" for i in range(embeddings.disk.shape[1])]
    if with_latent:
        header += [f"z{i}" for i in range(embeddings.latent.shape[1])]
    with open_output(path, newline="", encoding="utf-8", errors="surrogateescape") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for i, name in enumerate(embeddings.paths):
            values = list(embeddings.disk[i])
            if with_latent:
                values += list(embeddings.latent[i])
            writer.writerow([name] + [f"{v:.7g}" for v in values])
