"""Embeddings: the `Embeddings` type and its files (no torch needed to read them).

`embeddings.npz` holds `paths` (N sample ids; by default a sample's id is its relative
path, hence the key's name), `latent` (N x D float32, the encoder's z) and `disk`
(N x d float32, the point in the Poincaré ball), rows in the same order, and
`ball_trained` (whether the hierarchical loss trained the ball: false for `--lambda-hc 0`
runs, whose tree is then built from the latents). The CSV has the
columns `path, x0.., z0..` with the sample id in `path`.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from infohier_cli.atomic import atomic_open, open_output
from infohier_cli.errors import UserError
from infohier_cli.tables import TableWriter

EMBED_FORMATS = ("npz", "csv")


@dataclass(frozen=True)
class Embeddings:
    """ids (N,) sample ids, latent (N, D) (None when not loaded), disk (N, d); one row per
    sample. `ball_trained`: the hierarchical loss trained the ball points."""

    ids: list[str]
    latent: np.ndarray | None
    disk: np.ndarray
    ball_trained: bool = True

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
            ball_trained=np.array(embeddings.ball_trained),
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
            missing = [k for k in ("paths", "disk", "latent") if k not in data.files]
            if missing and (with_latent or missing != ["latent"]):
                raise UserError(f"embeddings {path} lack the array(s) {', '.join(missing)}")
            paths, disk = data["paths"], data["disk"]
            latent = data["latent"] if with_latent else None
            ball_trained = bool(data["ball_trained"]) if "ball_trained" in data.files else True
    except (KeyError, ValueError, OSError, zipfile.BadZipFile, EOFError) as error:
        if isinstance(error, ValueError) and not zipfile.is_zipfile(path):
            raise UserError(
                f"cannot read embeddings {path}: not an .npz file (give the .npz that "
                "`train` and `embed` write; a CSV from `embed` is for other tools)"
            ) from None
        raise UserError(f"cannot read embeddings {path} ({type(error).__name__})") from None
    check_arrays(path, paths, disk, latent)
    return Embeddings([str(p) for p in paths], latent, disk, ball_trained)


def check_arrays(path: Path, paths: np.ndarray, disk: np.ndarray, latent: np.ndarray | None):
    """UserError unless the arrays are one row per sample (each path once), numeric, 2-D
    and finite."""
    for name, values in (("disk", disk), ("latent", latent)):
        if values is None:
            continue
        if values.ndim != 2 or values.dtype.kind not in "fiu" or values.shape[1] < 1:
            raise UserError(f"embeddings {path}: '{name}' must be a 2-D numeric array")
        if not np.isfinite(values).all():
            bad = int((~np.isfinite(values)).any(axis=1).sum())
            raise UserError(f"embeddings {path}: '{name}' holds NaN or inf in {bad} row(s)")
    if paths.ndim != 1 or not np.issubdtype(paths.dtype, np.str_):
        raise UserError(f"embeddings {path}: 'paths' must be a 1-D array of strings")
    if disk.shape[1] < 2:
        raise UserError(f"embeddings {path}: 'disk' needs at least 2 columns")
    if len(disk) and np.linalg.norm(disk.astype(np.float64), axis=1).max() >= 1.0:
        raise UserError(f"embeddings {path}: 'disk' points must lie inside the unit ball")
    rows = len(paths) if latent is None else len(latent)
    if not (len(paths) == rows == len(disk)) or len(paths) == 0:
        raise UserError(f"embeddings {path} are inconsistent or empty")
    if len(np.unique(paths)) < len(paths):
        raise UserError(f"embeddings {path}: a path appears in more than one row")


def write_csv(path: Path | str | None, embeddings: Embeddings, with_latent: bool) -> None:
    """CSV: path (the sample id), x0..x{d-1} (ball coordinates), then z0..z{D-1} if
    `with_latent`.
    `path` None or '-' writes to stdout."""
    header = ["path"] + [f"x{i}" for i in range(embeddings.disk.shape[1])]
    if with_latent:
        header += [f"z{i}" for i in range(embeddings.latent.shape[1])]
    with open_output(path, newline="", encoding="utf-8", errors="surrogateescape") as handle:
        writer = TableWriter(handle)
        writer.writerow(header)
        for i, name in enumerate(embeddings.ids):
            values = list(embeddings.disk[i])
            if with_latent:
                values += list(embeddings.latent[i])
            writer.writerow([name] + [f"{v:.7g}" for v in values])
