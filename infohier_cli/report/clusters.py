"""What the HTML report shows of a tree: each node's leaves, the clusters of a cut, the top
of the tree, and each cluster's representatives and sample.

Every node's leaves are one contiguous span of the tree's left-to-right leaf order
(`LeafSpans`), so a node's members cost one slice, not a traversal. The clusters of the
cut into k are `Tree.clusters(k)`: each has a top node, and its members are grouped from
the cut's labels (a cluster can be its top node's leaves less a cluster below it). The
shown top of the tree, truncated to T clusters, is the tree above the T − 1 highest merges.
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
    """The leaf span of every node, from the node sizes and one pass over the merges: starts
    top-down (a node's first child on the left, as in `Tree.leaf_order`)."""
    n = tree.n
    kids = tree.children().tolist()
    size = tree.sizes().tolist()
    start = [0] * (2 * n - 1)
    for row in range(n - 2, -1, -1):  # parents before children
        a, b = kids[row]
        start[a] = start[n + row]
        start[b] = start[n + row] + size[a]
    first = np.array(start, dtype=np.int64)
    order = np.empty(n, dtype=np.int64)
    order[first[:n]] = np.arange(n)
    return LeafSpans(order, first, first + np.array(size, dtype=np.int64))


def cluster_members(labels: np.ndarray, k: int) -> list[np.ndarray]:
    """The leaves of each cluster of a cut (`labels` (n,) ids 0..k−1), by cluster id."""
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(k + 1))
    return [order[bounds[c] : bounds[c + 1]] for c in range(k)]


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
    members: np.ndarray,
    node: int,
    unit: np.ndarray,
    representatives: int,
    sample: int,
    spare: int = 0,
    seed: int = 0,
) -> ClusterView:
    """The `members` of a cluster with top node `node` that a report may show: the
    `representatives + spare` most central (`central_first`), and `sample + spare` of the
    members other than the first `representatives` of them, drawn at random (a fixed seed
    per node, so a report is reproducible). The spares stand in for images that cannot be
    read."""
    central = central_first(members, unit)[: representatives + spare]
    rest = np.setdiff1d(members, central[:representatives])
    rng = np.random.default_rng([seed, node])
    size = min(sample + spare, len(rest)) if sample else 0
    drawn = rng.choice(rest, size=size, replace=False)
    return ClusterView(node, len(members), central, drawn.tolist())
