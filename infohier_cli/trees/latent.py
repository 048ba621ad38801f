"""The latent tree: Ward linkage on the encoder's latents, exact or anchored for large n.

Latents are centred and L2-normalised first (the contrastive loss shapes directions, not
lengths). Up to `EXACT_MAX` images, scipy's Ward linkage is exact; it holds the n²/2
pairwise distances (about 2 GB at 15,000 images). Above that, an anchored Ward tree keeps
memory at O(n·D + m²):

1. m = `ANCHORS` latents, drawn uniformly with a fixed seed, are the anchors; every
   latent joins its nearest anchor (largest cosine; anchors join themselves), so each
   anchor heads a cell of latents;
2. the top of the tree is the exact Ward tree over the m cell means (unweighted), and each
   cell gets its own exact Ward tree;
3. each leaf of the top tree is replaced by its cell's tree. Cell heights are scaled by
   one common factor so that they stay below the lowest top merge (heights stay monotone,
   each cell keeps its shape).
Time O(n·m·D) for the assignment, chunked. It is an approximation: on the digits latents
(BENCHMARKS.md) it scored 0.80–0.88 class dendrogram purity where exact Ward scored 0.90,
against 0.15–0.41 for the disk tree.
"""

from __future__ import annotations

import numpy as np

from infohier_cli.training.similarity import normalise

EXACT_MAX = 15_000
ANCHORS = 10_000
ASSIGN_CHUNK = 4096


def ward(points: np.ndarray) -> np.ndarray:
    """scipy's Ward linkage of (k, D) points -> (k−1, 4); empty for k < 2."""
    from scipy.cluster.hierarchy import linkage

    return linkage(points, method="ward") if len(points) > 1 else np.zeros((0, 4))


def latent_linkage(
    latent: np.ndarray, exact_max: int = EXACT_MAX, anchors: int = ANCHORS, seed: int = 0
) -> np.ndarray:
    """Ward tree of the normalised latents (exact up to `exact_max` rows, else anchored
    with `anchors` anchors). (n, D) -> (n−1, 4) linkage, heights monotone."""
    unit = normalise(latent)
    n = len(unit)
    if n <= exact_max:
        return ward(unit)
    anchors = min(anchors, n)
    anchor_rows = np.sort(np.random.default_rng(seed).choice(n, size=anchors, replace=False))
    cell = nearest_anchor(unit, unit[anchor_rows])
    cell[anchor_rows] = np.arange(anchors)
    means = np.zeros((anchors, unit.shape[1]))
    np.add.at(means, cell, unit)
    means /= np.bincount(cell, minlength=anchors)[:, None]
    return _stitch(unit, cell, ward(means))


def nearest_anchor(unit: np.ndarray, anchor_points: np.ndarray) -> np.ndarray:
    """Index of the largest-cosine anchor for each unit row. -> (n,) int64."""
    out = np.empty(len(unit), dtype=np.int64)
    for start in range(0, len(unit), ASSIGN_CHUNK):
        out[start : start + ASSIGN_CHUNK] = np.argmax(
            unit[start : start + ASSIGN_CHUNK] @ anchor_points.T, axis=1
        )
    return out


def _stitch(unit: np.ndarray, cell: np.ndarray, top: np.ndarray) -> np.ndarray:
    """One linkage over all n leaves: every cell's Ward rows (by height), then `top`, whose
    leaf a stands for cell a."""
    n, m = len(unit), len(top) + 1
    order = np.argsort(cell, kind="stable")
    bounds = np.searchsorted(cell[order], np.arange(m + 1))
    members = [order[bounds[a] : bounds[a + 1]] for a in range(m)]
    local = [ward(unit[rows]) for rows in members]
    tallest = max((float(rows[-1, 2]) for rows in local if len(rows)), default=0.0)
    lowest_top = float(top[0, 2]) if len(top) else 1.0
    scale = min(1.0, 0.999 * lowest_top / tallest) if tallest > 0 else 1.0

    cell_of_row = np.concatenate([np.full(len(rows), a) for a, rows in enumerate(local)])
    local_row = np.concatenate([np.arange(len(rows)) for rows in local])
    heights = np.concatenate([rows[:, 2] for rows in local]) * scale
    placed = np.argsort(heights, kind="stable")  # keeps each cell's rows in their order
    first_row = np.concatenate([[0], np.cumsum([len(rows) for rows in local])])
    global_id = np.empty(len(placed), dtype=np.int64)
    global_id[placed] = n + np.arange(len(placed))

    def node(a: int, child: int) -> int:
        size = len(members[a])
        if child < size:
            return int(members[a][child])
        return int(global_id[first_row[a] + child - size])

    root_of_cell = [node(a, 2 * len(members[a]) - 2) for a in range(m)]
    linkage = np.zeros((n - 1, 4))
    for out_row, row in enumerate(placed):
        a, r = int(cell_of_row[row]), int(local_row[row])
        left, right = local[a][r, :2].astype(np.int64)
        linkage[out_row, :3] = node(a, left), node(a, right), heights[row]
    offset = len(placed)
    for r, (left, right, height, _) in enumerate(top):
        ids = [root_of_cell[int(c)] if c < m else n + offset + int(c) - m for c in (left, right)]
        linkage[offset + r, :3] = ids[0], ids[1], height
    sizes = np.ones(2 * n - 1)
    for r in range(n - 1):
        sizes[n + r] = sizes[int(linkage[r, 0])] + sizes[int(linkage[r, 1])]
        linkage[r, 3] = sizes[n + r]
    return linkage
