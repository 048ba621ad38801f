"""Embeddings: the `Embeddings` type and its files (no torch needed to read them).

`embeddings.npz` holds `paths` (N sample ids; by default a sample's id is its relative
path, hence the key's name), `latent` (N x D float32, the encoder's z) and `disk`
(N x d float32, the point in the Poincaré ball), rows in the same order. The CSV has the
columns `path, x0.., z0..` with the sample id in `path`.
"""

from __future__ import annotations

import csv
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from infohier_cli.atomic import atomic_open, open_output
from infohier_cli.errors import UserError

EMBED_FORMATS = ("npz", "csv")


@dataclass(frozen=True)
class Embeddings:
    """ids (N,) sample ids, latent (N, D) (None when not loaded), disk (N, d); one row per
    sample."""

    ids: list[str]
    latent: np.ndarray | None
    disk: np.ndarray

    @property
    def paths(self) -> list[str]:
        """Same as `ids` (for one-file samples, the relative path)."""
        return self.ids


def save_embeddings(path: Path, embeddings: Embeddings) -> None:
    """Write `embeddings.npz` atomically."""
    with atomic_open(path, "wb") as handle:
        np.savez(
            handle,
            paths=np.array(embeddings.ids, dtype=str),
            latent=embeddings.latent.astype(np.float32),
            disk=embeddings.disk.astype(np.float32),
        )


def load_embeddings(path: Path, with_latent: bool = True) -> Embeddings:
    """Read an embeddings file written by `save_embeddings`; UserError if missing or bad.
    `with_latent=False` leaves the (large) latent matrix on disk."""
    path = Path(path)
    if not path.is_file():
        raise UserError(
            f"no embeddings file at {path} (run `infohier train` or "
            "`infohier embed` first, or pass --embeddings)"
        )
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
    """CSV: path (the sample id), x0..x{d-1} (ball coordinates), then z0..z{D-1} if
    `with_latent`.
    `path` None or '-' writes to stdout."""
    header = ["path"] + [f"x{i}" for i in range(embeddings.disk.shape[1])]
    if with_latent:
        header += [f"z{i}" for i in range(embeddings.latent.shape[1])]
    with open_output(path, newline="", encoding="utf-8", errors="surrogateescape") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for i, name in enumerate(embeddings.ids):
            values = list(embeddings.disk[i])
            if with_latent:
                values += list(embeddings.latent[i])
            writer.writerow([name] + [f"{v:.7g}" for v in values])
