"""What the HTML report shows of a tree: each node's leaves, the clusters of a cut, the top
of the tree, and each cluster's representatives and sample.

Every node's leaves are one contiguous span of the tree's left-to-right leaf order
(`LeafSpans`), so a cluster's members cost one slice, not a traversal. The clusters of the
cut into k are the subtrees left when the k − 1 highest merges (linkage rows n−k..n−2)
are undone: the children of those rows that are not undone themselves. The shown top of
the tree, truncated to T clusters, is the tree above the cut into T.
What is drawn per cluster is bounded (a few representatives, a fixed-size sample), so the
report's size grows with the number of clusters shown, never with the number of images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from infohier_cli.report.thumbnails import central_first
from infohier_cli.trees.tree import Tree


@dataclass(frozen=True)
class LeafSpans:
    """order (n,): leaves left to right; node v's leaves are order[start[v]:end[v]]
    (start, end: (2n − 1,))."""

    order: np.ndarray
    start: np.ndarray
    end: np.ndarray

    def members(self, node: int) -> np.ndarray:
        return self.order[self.start[node] : self.end[node]]

    def size(self, node: int) -> int:
        return int(self.end[node] - self.start[node])


def leaf_spans(tree: Tree) -> LeafSpans:
    """The leaf span of every node, in two passes over the merges: sizes bottom-up, then
    starts top-down (a node's first child on the left, as in `Tree.leaf_order`)."""
    n = tree.n
    kids = tree.children().tolist()
    size = [1] * n + [0] * (n - 1)
    for row, (a, b) in enumerate(kids):
        size[n + row] = size[a] + size[b]
    start = [0] * (2 * n - 1)
    for row in range(n - 2, -1, -1):  # parents before children
        a, b = kids[row]
        start[a] = start[n + row]
        start[b] = start[n + row] + size[a]
    first = np.array(start, dtype=np.int64)
    order = np.empty(n, dtype=np.int64)
    order[first[:n]] = np.arange(n)
    return LeafSpans(order, first, first + np.array(size, dtype=np.int64))


def cluster_roots(tree: Tree, k: int, spans: LeafSpans) -> np.ndarray:
    """(k,) the node of each cluster of `tree.cut(k)`, indexed by its cluster id (the id
    `export --cut` writes)."""
    n = tree.n
    if k == 1:
        return np.array([tree.root])
    kids = tree.children()[n - k :].ravel()
    roots = kids[kids < 2 * n - k]  # not an undone merge itself
    ids = tree.cut(k)[spans.order[spans.start[roots]]]
    out = np.empty(k, dtype=np.int64)
    out[ids] = roots
    return out


def expandable(tree: Tree, node: int, shown: int) -> bool:
    """Whether `node` is an inner node of the top of the tree truncated to `shown`
    clusters (one of the `shown` − 1 highest merges)."""
    return node >= tree.n and node - tree.n >= tree.n - shown


@dataclass(frozen=True)
class ClusterView:
    """A cluster as shown: its node, its size, its members ordered medoid first (the
    candidates for its representatives) and a random draw of its other members."""

    node: int
    size: int
    central: list[int]
    sample: list[int]


def cluster_view(
    spans: LeafSpans,
    node: int,
    unit: np.ndarray,
    representatives: int,
    sample: int,
    spare: int = 0,
    seed: int = 0,
) -> ClusterView:
    """The members of `node` a report may show: the `representatives + spare` most central
    (`central_first`), and `sample + spare` of the members other than the first
    `representatives` of them, drawn at random (a fixed seed per node, so a report is
    reproducible). The spares stand in for images that cannot be read."""
    members = spans.members(node)
    central = central_first(members, unit)[: representatives + spare]
    rest = np.setdiff1d(members, central[:representatives])
    rng = np.random.default_rng([seed, node])
    size = min(sample + spare, len(rest)) if sample else 0
    drawn = rng.choice(rest, size=size, replace=False)
    return ClusterView(node, len(members), central, drawn.tolist())
