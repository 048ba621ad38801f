"""The latent tree: Ward linkage on the encoder's latents, exact, or by cells for large n.

Latents are centred and L2-normalised first (the contrastive loss shapes directions, not
lengths). Up to `EXACT_MAX` images, Ward's linkage is exact (`ward.ward`); it holds the
n²/2 pairwise distances (0.9 GB at 15,000 images). Above that, the cell tree keeps memory
at O(n·D + m²) and time at O(n·m·D + n²·D/m) with m ≈ `CELLS_PER_ROOT`·√n cells:

1. k-means (Lloyd, `KMEANS_ITERATIONS` rounds from m distinct rows, seeded) on a sample
   of `SAMPLE_PER_CELL`·m rows cuts the latents into m cells: k-means minimises the same
   sum of squares Ward's merges increase, so a cell is what Ward would build first. Every
   row then joins its nearest centre (one pass in float32 matrix products, in chunks);
   empty cells are dropped;
2. each cell gets its exact Ward tree;
3. the top of the tree is the exact Ward tree over the cells, each weighted by its size
   (`ward.weighted_ward`: the tree Ward builds over whole cells), and each of its leaves
   is replaced by its cell's tree. Heights are Ward's heights in both parts (one scale);
   a top merge lower than a cell it joins is raised to that cell's height, so heights are
   monotone.
On trained latents and on clustered mixtures it keeps ≥ 0.97 of exact Ward's dendrogram
purity (BENCHMARKS.md, Speed and scale); 1,000,000 × 512 latents take about a minute.
"""

from __future__ import annotations

import numpy as np

from infohier_cli.training.similarity import normalise
from infohier_cli.trees.ward import ward, weighted_ward

EXACT_MAX = 15_000
CELLS_PER_ROOT = 2.0  # m = CELLS_PER_ROOT · √n cells
SEED_PER_CELL = 4  # Ward on this many rows per cell places the first centres
SAMPLE_PER_CELL = 32  # Lloyd's iterations run on this many rows per cell
KMEANS_ITERATIONS = 4
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
    return cell_ward(unit, kmeans_cells(unit, min(n, cells or default_cells(n)), seed), seed)


def default_cells(n: int) -> int:
    """m = CELLS_PER_ROOT · √n, which balances the k-means pass (n·m·D) against the cell
    trees (n²·D/m)."""
    return max(2, round(CELLS_PER_ROOT * np.sqrt(n)))


def kmeans_cells(unit: np.ndarray, m: int, seed: int = 0) -> np.ndarray:
    """Cell of each row, by k-means started from Ward: the exact Ward tree of a seeded
    sample of SEED_PER_CELL·m rows cut into m clusters gives the first centres, Lloyd's
    iterations on a sample of SAMPLE_PER_CELL·m rows move them, then every row joins its
    nearest centre. (n, D) -> (n,) int64 in 0..m'−1, every cell non-empty (m' ≤ m)."""
    from scipy.cluster.hierarchy import fcluster

    rng = np.random.default_rng(seed)
    n = len(unit)
    seeds = unit[np.sort(rng.choice(n, size=min(n, SEED_PER_CELL * m), replace=False))]
    first = fcluster(ward(seeds), m, criterion="maxclust") - 1
    sums, counts = cell_sums(seeds, first, int(first.max()) + 1)
    centres = (sums / counts[:, None]).astype(unit.dtype)
    sample = unit[np.sort(rng.choice(n, size=min(n, SAMPLE_PER_CELL * m), replace=False))]
    for _ in range(KMEANS_ITERATIONS):
        sums, counts = cell_sums(sample, nearest_centre(sample, centres), len(centres))
        centres = (sums[counts > 0] / counts[counts > 0, None]).astype(unit.dtype)
    _, cell = np.unique(nearest_centre(unit, centres), return_inverse=True)  # no empty cell
    if cell.max() == 0 and m > 1:  # k-means found one point, repeated: any split is Ward's
        cell = np.arange(n) * m // n
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


def cell_ward(unit: np.ndarray, cell: np.ndarray, seed: int = 0) -> np.ndarray:
    """One linkage over all n rows: the Ward tree inside each cell (`cell_tree`), under the
    size-weighted Ward tree of the cells (see the module docstring). cell (n,) in
    0..m−1, every cell non-empty. -> (n−1, 4)."""
    n, m = len(unit), int(cell.max()) + 1
    sums, sizes = cell_sums(unit, cell, m)
    top = weighted_ward(sums / sizes[:, None], sizes)
    order = np.argsort(cell, kind="stable")  # rows of cell a: order[start[a]:start[a + 1]]
    start = np.concatenate([[0], np.cumsum(sizes)])
    local = [cell_tree(unit[order[start[a] : start[a + 1]]], seed) for a in range(m)]

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
    height = np.concatenate([inner[:, 2], top[:, 2]])
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


def cell_tree(points: np.ndarray, seed: int = 0) -> np.ndarray:
    """Ward tree of one cell: exact up to EXACT_MAX rows; a cell more crowded than that
    (many near-identical images) gets the cell tree in turn. (k, D) -> (k−1, 4)."""
    if len(points) <= EXACT_MAX:
        return ward(points)
    return cell_ward(points, kmeans_cells(points, default_cells(len(points)), seed), seed)
