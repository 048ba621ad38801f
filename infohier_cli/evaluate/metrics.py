"""Tree quality against labels: dendrogram purity, flat-cut scores, Dasgupta cost.

Dendrogram purity (Heller & Ghahramani 2005): over all pairs (i, j) of labelled leaves with
the same class c, the mean of |{leaves of class c under lca(i, j)}| / |{labelled leaves
under lca(i, j)}|. Computed exactly in O(n · classes): with leaves in dendrogram order every
node covers a contiguous range, so per-class counts under a node are prefix-sum
differences, and the pairs whose LCA is node v are the products of its two children's
counts.
"""

from __future__ import annotations

import numpy as np

from infohier_cli.trees.tree import Tree


def _node_ranges(tree: Tree) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Leaf order and, for every node, the [start, end) range of its leaves in that order."""
    position = tree.leaf_position()
    order = np.argsort(position)  # the inverse permutation: `leaf_order()` without a walk
    start = np.zeros(2 * tree.n - 1, dtype=np.int64)
    end = np.zeros(2 * tree.n - 1, dtype=np.int64)
    start[: tree.n] = position
    end[: tree.n] = position + 1
    for row, (a, b) in enumerate(tree.children()):  # children before parents
        start[tree.n + row] = min(start[a], start[b])
        end[tree.n + row] = max(end[a], end[b])
    return order, start, end


def dendrogram_purity(tree: Tree, labels: np.ndarray) -> float:
    """Exact dendrogram purity; labels (n,) ints, −1 = unlabelled (ignored)."""
    labels = np.asarray(labels)
    if tree.n < 2:
        return 1.0
    order, start, end = _node_ranges(tree)
    ordered = labels[order]
    kids = tree.children()
    a, b = kids[:, 0], kids[:, 1]
    labelled = np.concatenate([[0], np.cumsum(ordered >= 0)])
    size = (labelled[end] - labelled[start])[tree.n :]
    numerator, pairs = 0.0, 0.0
    for c in np.unique(labels[labels >= 0]):
        prefix = np.concatenate([[0], np.cumsum(ordered == c)])
        count = prefix[end] - prefix[start]
        cross = count[a].astype(np.float64) * count[b]
        inner = count[tree.n :]
        numerator += float(np.sum(cross * inner / np.maximum(size, 1)))
        pairs += float(cross.sum())
    return numerator / pairs if pairs else 1.0


def contingency(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """(classes, clusters) counts of the labelled leaves."""
    _, t = np.unique(truth, return_inverse=True)
    _, p = np.unique(predicted, return_inverse=True)
    table = np.zeros((t.max() + 1, p.max() + 1))
    np.add.at(table, (t, p), 1)
    return table


def cut_scores(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Purity, NMI (arithmetic normalisation) and ARI of a flat clustering."""
    table = contingency(truth, predicted)
    n = table.sum()
    purity = table.max(axis=0).sum() / n
    pt, pp = table.sum(axis=1) / n, table.sum(axis=0) / n
    joint = table / n
    nz = joint > 0
    mutual = float((joint[nz] * np.log(joint[nz] / np.outer(pt, pp)[nz])).sum())
    entropy_t = -float((pt[pt > 0] * np.log(pt[pt > 0])).sum())
    entropy_p = -float((pp[pp > 0] * np.log(pp[pp > 0])).sum())
    nmi = mutual / ((entropy_t + entropy_p) / 2) if entropy_t + entropy_p > 0 else 1.0

    def pairs(x):
        return (x * (x - 1) / 2).sum()

    index, rows, cols = pairs(table), pairs(table.sum(axis=1)), pairs(table.sum(axis=0))
    expected = rows * cols / pairs(np.array([n])) if n > 1 else 0.0  # no pairs: 0 / 0
    maximum = (rows + cols) / 2
    ari = (index - expected) / (maximum - expected) if maximum != expected else 1.0
    return {"purity": float(purity), "nmi": float(nmi), "ari": float(ari)}


def dasgupta_cost(
    tree: Tree, similarity_of, exact_limit: int = 4000, samples: int = 200_000, seed: int = 0
) -> tuple[float, float]:
    """Dasgupta's cost Σ_{i<j} w_ij |leaves(lca(i, j))|, normalised by Σ_{i<j} w_ij · n
    (1 = as bad as a star). -> (value, standard error; 0 when exact).

    `similarity_of(i, j)` gives w for index arrays. Exact up to `exact_limit` leaves, else
    a Monte-Carlo estimate over `samples` random pairs.
    """
    order, start, end = _node_ranges(tree)
    n, position = tree.n, tree.leaf_position()
    kids = tree.children()
    sizes = tree.linkage[:, 3]
    if n <= exact_limit:
        total, weight = 0.0, 0.0
        for row, (a, b) in enumerate(kids):
            left = order[start[a] : end[a]]
            right = order[start[b] : end[b]]
            w = similarity_of(np.repeat(left, len(right)), np.tile(right, len(left)))
            total += float(w.sum()) * sizes[row]
            weight += float(w.sum())
        return total / (weight * n), 0.0
    rng = np.random.default_rng(seed)
    i = rng.integers(0, n, samples)
    j = (i + rng.integers(1, n, samples)) % n
    lo, hi = np.minimum(position[i], position[j]), np.maximum(position[i], position[j])
    # gap g (between ordered leaves g and g+1) is split by exactly one inner node; the lca of
    # two leaves is the highest of the nodes splitting the gaps between them
    gap_node = _gap_nodes(tree, end)
    lca = _range_max(gap_node, lo, hi)
    w = similarity_of(i, j)
    values = w * sizes[lca - n]
    ratio = values.mean() / (w.mean() * n)
    error = values.std() / np.sqrt(samples) / (w.mean() * n)
    return float(ratio), float(error)


def _gap_nodes(tree: Tree, end: np.ndarray) -> np.ndarray:
    """For each gap between consecutive ordered leaves, the inner node splitting it."""
    gaps = np.zeros(tree.n - 1, dtype=np.int64)
    for row, (a, _) in enumerate(tree.children()):
        gaps[end[a] - 1] = tree.n + row
    return gaps


def _range_max(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """max(values[lo:hi]) for each query, via a sparse table. lo < hi."""
    table = [values]
    span = 1
    while 2 * span <= len(values):
        prev = table[-1]
        table.append(np.maximum(prev[:-span], prev[span:]))
        span *= 2
    length = hi - lo
    level = np.floor(np.log2(length)).astype(np.int64)
    out = np.empty(len(lo), dtype=values.dtype)
    for k in np.unique(level):
        m = level == k
        out[m] = np.maximum(table[k][lo[m]], table[k][hi[m] - (1 << k)])
    return out
