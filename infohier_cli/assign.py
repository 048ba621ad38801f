"""Placing new images in a trained run's tree: `infohier assign NEW_FOLDER`.

No retraining and no rebuilding: the new images are embedded with the run's model
(`embed.py`), and each one's k nearest training samples are found by the one latent
similarity (`training/similarity.py`), both sides centred on the *training* mean:

    w(q, t) = (1 + cos(z_q − m, z_t − m)) / 2,   distance d = 1 − w ∈ [0, 1]

The search is exact: unit vectors, one matrix product per chunk of queries (float32,
CHUNK_CELLS similarities in memory at a time), top k by `argpartition`. A new image's
cluster at a cut into K is the cluster of its nearest training image. With a tree of some
of the training images, the neighbours are its leaves; the centre m stays the mean of all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from infohier_cli.atomic import open_output
from infohier_cli.errors import UserError
from infohier_cli.tables import TableWriter, json_text

ASSIGN_FORMATS = ("csv", "json")
CHUNK_CELLS = 1 << 24  # similarities held at once (64 MB in float32)


@dataclass(frozen=True)
class Index:
    """The training side: sample ids, unit latents (N, D) float32 centred on `mean` (D,)."""

    ids: list[str]
    unit: np.ndarray
    mean: np.ndarray

    @classmethod
    def from_latents(
        cls, ids: list[str], latent: np.ndarray, mean: np.ndarray | None = None
    ) -> Index:
        """The index of `latent` (N, D), centred on `mean` (D,): the training mean, by
        default the rows' own (when they are all the training samples)."""
        from infohier_cli.training.similarity import normalise

        if mean is None:
            mean = np.asarray(latent, dtype=np.float64).mean(axis=0)
        return cls(list(ids), normalise(latent, mean).astype(np.float32), mean)

    def units(self, latent: np.ndarray) -> np.ndarray:
        """Queries' unit latents, centred on the training mean. (Q, D) -> (Q, D) float32."""
        from infohier_cli.training.similarity import normalise

        return normalise(latent, self.mean).astype(np.float32)


def nearest(
    index_unit: np.ndarray, query_unit: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest by cosine. index (N, D), queries (Q, D), unit rows, float32.

    -> (rows (Q, k) int64 into the index, distances (Q, k) = 1 − w, ascending)."""
    from infohier_cli.training.similarity import cosine_to_weight

    n, q = len(index_unit), len(query_unit)
    k = min(k, n)
    rows = np.empty((q, k), dtype=np.int64)
    dist = np.empty((q, k), dtype=np.float64)
    step = max(1, CHUNK_CELLS // max(n, 1))
    for start in range(0, q, step):
        cos = query_unit[start : start + step] @ index_unit.T  # (c, N)
        top = (
            np.argpartition(-cos, k - 1, axis=1)[:, :k]
            if k < n
            else np.tile(np.arange(n), (len(cos), 1))
        )
        top_cos = np.take_along_axis(cos, top, axis=1)
        order = np.argsort(-top_cos, axis=1, kind="stable")
        rows[start : start + step] = np.take_along_axis(top, order, axis=1)
        dist[start : start + step] = 1.0 - cosine_to_weight(
            np.take_along_axis(top_cos, order, axis=1).astype(np.float64)
        )
    return rows, np.clip(dist, 0.0, 1.0)


@dataclass(frozen=True)
class Placement:
    """Per new sample: ids (Q,), clusters {K: (Q,) ids}, neighbours (Q, k) ids' rows,
    distances (Q, k); `index_ids` names the neighbour rows."""

    ids: list[str]
    clusters: dict[int, np.ndarray]
    neighbours: np.ndarray
    distances: np.ndarray
    index_ids: list[str]


def place(
    query_ids: list[str],
    query_latent: np.ndarray,
    index: Index,
    k: int,
    cuts: dict[int, np.ndarray],
) -> Placement:
    """Neighbours of each query, and its cluster at each cut (`cuts`: K -> (N,) cluster id
    of each index row)."""
    rows, dist = nearest(index.unit, index.units(query_latent), k)
    clusters = {K: labels[rows[:, 0]] for K, labels in cuts.items()}
    return Placement(list(query_ids), clusters, rows, dist, index.ids)


def write_placement(placement: Placement, out: Path | str | None, fmt: str) -> None:
    """CSV (path, kK..., nn1, d1, nn2, d2, ...) or JSON (a list of {path, clusters,
    neighbours: [{path, distance}]}); '-' = stdout; files written atomically."""
    ks = sorted(placement.clusters)
    with open_output(out, newline="", encoding="utf-8", errors="surrogateescape") as handle:
        if fmt == "json":
            records = [
                {
                    "path": sample_id,
                    "clusters": {f"k{K}": int(placement.clusters[K][i]) for K in ks},
                    "neighbours": [
                        {"path": placement.index_ids[r], "distance": round(float(d), 6)}
                        for r, d in zip(
                            placement.neighbours[i], placement.distances[i], strict=True
                        )
                    ],
                }
                for i, sample_id in enumerate(placement.ids)
            ]
            handle.write(json_text(records, indent=1) + "\n")
            return
        writer = TableWriter(handle)
        k = placement.neighbours.shape[1]
        header = ["path"] + [f"k{K}" for K in ks]
        header += [c for j in range(1, k + 1) for c in (f"nn{j}", f"d{j}")]
        writer.writerow(header)
        for i, sample_id in enumerate(placement.ids):
            row = [sample_id] + [int(placement.clusters[K][i]) for K in ks]
            for r, d in zip(placement.neighbours[i], placement.distances[i], strict=True):
                row += [placement.index_ids[r], f"{d:.6f}"]
            writer.writerow(row)


def assign_folder(
    folder: Path,
    run_dir: Path,
    tree_file: Path | None,
    cuts: Sequence[int],
    k: int,
    out: Path | str | None,
    fmt: str,
    *,
    device: str = "auto",
    batch_size: int = 256,
    workers: int | None = None,
    warn: Callable[[str], None] = print,
    progress: bool = True,
    group: str | None = None,
) -> Placement:
    """`infohier assign`: embed `folder`, place it among the run's training samples.

    `group`: the `--group` regex for `folder` (None = the run's own, "" = one file each)."""
    from infohier_cli.embed import embed_samples
    from infohier_cli.embeddings import load_embeddings
    from infohier_cli.run import RunDir

    if cuts and tree_file is None:
        raise UserError("--cut needs the run's tree (--tree FILE)")
    trained = load_embeddings(RunDir(run_dir).embeddings)
    ids, latent = trained.ids, trained.latent
    mean = np.asarray(latent, dtype=np.float64).mean(axis=0)  # of all, whatever tree is given
    cut_labels: dict[int, np.ndarray] = {}
    if tree_file is not None:
        from infohier_cli.trees.files import read_tree

        tree = read_tree(tree_file, warn)
        row = {name: i for i, name in enumerate(ids)}
        missing = [name for name in tree.names if name not in row]
        if missing:
            raise UserError(
                f"{len(missing)} leaves of {tree_file} (e.g. {missing[0]!r}) are not in the "
                f"run's embeddings; give the tree made from this run (with path labels)"
            )
        ids, latent = tree.names, latent[[row[name] for name in tree.names]]
        cut_labels = {K: tree.cut(K) for K in cuts}
    new, _ = embed_samples(
        folder, run_dir, device=device, batch_size=batch_size, workers=workers, warn=warn,
        progress=progress, group=group,
    )  # fmt: skip
    placement = place(new.ids, new.latent, Index.from_latents(ids, latent, mean), k, cut_labels)
    write_placement(placement, out, fmt)
    return placement
