"""The latent tree: Ward linkage on the encoder's latents, exact, or by cells for large n.

Latents are centred and L2-normalised first (the contrastive loss shapes directions, not
lengths). Up to `EXACT_MAX` images, Ward's linkage is exact (`ward.ward`); it holds the
n²/2 pairwise distances (0.9 GB at 15,000 images). Above that, the cell tree keeps memory
at O(n·D + m² + SEED_MAX²) and time at O(n·m·D + n·CELL_MAX·D), with
m ≈ `CELLS_PER_ROOT`·√n cells:

1. k-means cuts the (float32) latents into m cells. k-means minimises the same sum of
   squares that Ward's merges increase, so cells are near the clusters Ward builds
   first. It starts from Ward itself: the exact Ward tree of a seeded sample of
   `SEED_PER_CELL`·m rows (at most `SEED_MAX`), cut into m clusters, gives the first
   centres (random starts stall far from the classes when they overlap);
   `KMEANS_ITERATIONS` of Lloyd's iterations on a sample of `SAMPLE_PER_CELL`·m rows move
   them; every row then joins its nearest centre (one pass of float32 matrix products, in
   chunks); empty cells are dropped;
2. a cell of more than `CELL_MAX` rows (a class without structure k-means can split, or
   many copies of one image) is halved by 2-means, from the sign of its principal
   component, until no part is larger (halves by row order where all rows are equal);
3. each cell gets its exact Ward tree (float32 distances of its centred rows);
4. the top of the tree is the exact Ward tree over the cells, each weighted by its size
   (`ward.weighted_ward`: the tree Ward builds over whole cells), and each of its leaves
   is replaced by its cell's tree. Heights are Ward's heights in both parts (one scale);
   a top merge lower than a cell it joins is raised to that cell's height, so heights are
   monotone.
Its dendrogram purity against exact Ward's, and its time and memory up to 1,000,000 × 512
latents, are in BENCHMARKS.md (Speed and scale).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from infohier_cli.training.similarity import normalise
from infohier_cli.trees.ward import ward, weighted_ward

EXACT_MAX = 15_000
CELLS_PER_ROOT = 2.0  # m = CELLS_PER_ROOT · √n cells
SEED_PER_CELL = 8  # Ward on this many rows per cell places the first centres,
SEED_MAX = 8_000  # on at most this many (and at least one per cell)
SAMPLE_PER_CELL = 32  # Lloyd's iterations run on this many rows per cell
KMEANS_ITERATIONS = 4
CELL_MAX = 512  # larger cells are halved (a cell's Ward tree costs ~CELL_MAX·D per row)
HALVING_ITERATIONS = 5  # power iterations, then 2-means rounds, of each halving
ASSIGN_CHUNK = 8192


def latent_linkage(
    latent: np.ndarray, exact_max: int | None = None, cells: int | None = None, seed: int = 0
) -> np.ndarray:
    """Ward tree of the normalised latents: exact up to `exact_max` rows (default
    EXACT_MAX), else the cell tree with `cells` cells (default `default_cells(n)`).
    (n, D) -> (n−1, 4), heights monotone."""
    n = len(latent)
    if n <= (EXACT_MAX if exact_max is None else exact_max):
        return ward(normalise(latent))
    unit = normalise(latent, dtype=np.float32)
    cell = kmeans_cells(unit, min(n, cells or default_cells(n)), seed)
    return cell_ward(unit, split_crowded(unit, cell))


def default_cells(n: int) -> int:
    """m = CELLS_PER_ROOT · √n, which balances the k-means pass (n·m·D) against the cell
    trees (n²·D/m)."""
    return max(2, round(CELLS_PER_ROOT * np.sqrt(n)))


def kmeans_cells(unit: np.ndarray, m: int, seed: int = 0) -> np.ndarray:
    """Cell of each row, by k-means started from Ward: the exact Ward tree of a seeded
    sample of SEED_PER_CELL·m rows (≤ SEED_MAX) cut into m clusters gives the first
    centres, Lloyd's iterations on a sample of SAMPLE_PER_CELL·m rows move them, then every
    row joins its nearest centre. (n, D) -> (n,) int64 in 0..m'−1, every cell non-empty
    (m' ≤ m)."""
    from scipy.cluster.hierarchy import fcluster

    rng = np.random.default_rng(seed)
    n = len(unit)
    seeds = min(n, max(m, min(SEED_PER_CELL * m, SEED_MAX)))
    seeds = unit[np.sort(rng.choice(n, size=seeds, replace=False))]
    first = fcluster(ward(seeds, np.float32), m, criterion="maxclust") - 1
    sums, counts = cell_sums(seeds, first, int(first.max()) + 1)
    centres = (sums / counts[:, None]).astype(unit.dtype)
    sample = unit[np.sort(rng.choice(n, size=min(n, SAMPLE_PER_CELL * m), replace=False))]
    for _ in range(KMEANS_ITERATIONS):
        sums, counts = cell_sums(sample, nearest_centre(sample, centres), len(centres))
        centres = (sums[counts > 0] / counts[counts > 0, None]).astype(unit.dtype)
    _, cell = np.unique(nearest_centre(unit, centres), return_inverse=True)  # no empty cell
    return cell.astype(np.int64)


def nearest_centre(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of the nearest centre (Euclidean) of each row: argmin ‖c‖² − 2 x·c, in chunks
    of ASSIGN_CHUNK rows. (n, D), (m, D) -> (n,) int64."""
    half_squares = 0.5 * np.einsum("ij,ij->i", centres, centres)
    out = np.empty(len(points), dtype=np.int64)
    for start in range(0, len(points), ASSIGN_CHUNK):
        score = points[start : start + ASSIGN_CHUNK] @ centres.T
        score -= half_squares
        out[start : start + ASSIGN_CHUNK] = np.argmax(score, axis=1)
    return out


def cell_sums(points: np.ndarray, cell: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-cell sums (m, D) float64 and counts (m,) of the rows of `points`."""
    from scipy.sparse import csr_matrix

    n = len(points)
    member = csr_matrix((np.ones(n, dtype=points.dtype), (cell, np.arange(n))), shape=(m, n))
    return np.asarray(member @ points, dtype=np.float64), np.bincount(cell, minlength=m)


def split_crowded(unit: np.ndarray, cell: np.ndarray, most: int | None = None) -> np.ndarray:
    """Cells of more than `most` rows (default CELL_MAX) halved until none is, see the
    module docstring. (n, D), (n,) -> (n,) int64 cell ids 0..m'−1."""
    from threadpoolctl import threadpool_limits

    most = CELL_MAX if most is None else most
    order = np.argsort(cell, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(cell))])
    pieces: list[np.ndarray] = []
    stack = [order[bounds[a] : bounds[a + 1]] for a in range(len(bounds) - 1)][::-1]
    with threadpool_limits(limits=1, user_api="blas"):  # small products: see cell_ward
        while stack:
            rows = stack.pop()
            if len(rows) <= most:
                pieces.append(rows)
                continue
            side = halve(unit[rows])
            stack += [rows[~side], rows[side]]
    out = np.empty(len(cell), dtype=np.int64)
    for a, rows in enumerate(pieces):
        out[rows] = a
    return out


def halve(points: np.ndarray) -> np.ndarray:
    """Two sides of (k, D) points -> (k,) bool, both non-empty: 2-means (Lloyd) from the
    sign of the projection on the principal component (power iteration from a fixed
    start); the first and second half by row order if that leaves a side empty."""
    centred = points - points.mean(axis=0)
    direction = np.ones(points.shape[1], dtype=points.dtype)
    for _ in range(HALVING_ITERATIONS):
        direction = centred.T @ (centred @ direction)
        direction /= max(float(np.linalg.norm(direction)), 1e-30)
    side = centred @ direction > 0
    for _ in range(HALVING_ITERATIONS):
        if side.all() or not side.any():
            break
        near, far = centred[~side].mean(axis=0), centred[side].mean(axis=0)
        side = centred @ (far - near) > 0.5 * (far @ far - near @ near)
    if side.all() or not side.any():
        side = np.arange(len(points)) >= len(points) // 2
    return side


def cell_ward(
    unit: np.ndarray,
    cell: np.ndarray,
    within: Callable[[np.ndarray], np.ndarray] | None = None,
    cells_first: bool = False,
) -> np.ndarray:
    """One linkage over all n rows: the tree inside each cell (by default its exact Ward
    tree; `within(rows)` -> linkage of the rows with those indices, in that order, to
    build another), under the size-weighted Ward tree of the cells' means of `unit` (see
    the module docstring). cell (n,) in 0..m−1, every cell non-empty. -> (n−1, 4).
    `cells_first`: every merge of the top tree is lifted above the highest merge inside
    the cells, so a cut into k ≤ m clusters splits no cell.

    The cells' products are small (CELL_MAX rows): BLAS runs them on one thread, which on
    2 busy cores was 3-10 times faster than two (BENCHMARKS.md)."""
    from threadpoolctl import threadpool_limits

    n, m = len(unit), int(cell.max()) + 1
    sums, sizes = cell_sums(unit, cell, m)
    top = weighted_ward(sums / sizes[:, None], sizes)
    order = np.argsort(cell, kind="stable")  # rows of cell a: order[start[a]:start[a + 1]]
    start = np.concatenate([[0], np.cumsum(sizes)])
    if within is None:
        with threadpool_limits(limits=1, user_api="blas"):  # threads cost more than they give
            local = [ward(unit[order[start[a] : start[a + 1]]], np.float32) for a in range(m)]
    else:
        local = [within(order[start[a] : start[a + 1]]) for a in range(m)]

    # Rows before sorting by height: the cells' rows (cell a's from first[a]), then top's.
    # A node is named n + its pre-row; leaves keep their row index.
    first = np.concatenate([[0], np.cumsum(sizes - 1)])
    inner = np.concatenate(local)
    cell_of = np.repeat(np.arange(m), sizes - 1)
    child = inner[:, :2].astype(np.int64)
    size_of = sizes[cell_of][:, None]
    leaf_of = order[np.minimum(start[cell_of][:, None] + child, n - 1)]
    child = np.where(child < size_of, leaf_of, n + first[cell_of][:, None] + child - size_of)
    root = np.where(sizes == 1, order[start[:-1]], n + first[1:] - 1)  # of each cell
    cells_end = n - m
    top_child = top[:, :2].astype(np.int64)
    top_child = np.where(
        top_child < m, root[np.minimum(top_child, m - 1)], top_child - m + n + cells_end
    )
    children = np.concatenate([child, top_child])
    lift = inner[:, 2].max(initial=0.0) if cells_first else 0.0
    height = np.concatenate([inner[:, 2], top[:, 2] + lift])
    for r in range(cells_end, n - 1):  # raise a top merge to the nodes it joins
        below = children[r][children[r] >= n] - n
        height[r] = max(height[r], *height[below]) if len(below) else height[r]
    count = np.concatenate([inner[:, 3], top[:, 3]])

    rank = np.empty(n - 1, dtype=np.int64)
    rank[np.argsort(height, kind="stable")] = np.arange(n - 1)  # children keep coming first
    children = np.where(children >= n, n + rank[np.maximum(children - n, 0)], children)
    linkage = np.empty((n - 1, 4))
    linkage[rank] = np.column_stack([children.min(1), children.max(1), height, count])
    return linkage
