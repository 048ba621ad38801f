"""Disjoint sets with node ids: turns merges (any member of each side) into linkage rows,
for the greedy decoding (`disk.py`) and Ward's nearest-neighbour chain (`ward.py`)."""

from __future__ import annotations

import numpy as np


class UnionFind:
    """Disjoint sets over 0..n−1 with path halving; `cluster[root]` is the current node id."""

    def __init__(self, n: int):
        self.parent = np.arange(n)
        self.cluster = np.arange(n)
        self.size = np.ones(n, dtype=np.int64)

    def find(self, i: int) -> int:
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(self, i: int, j: int, new_cluster: int) -> tuple[int, int, int]:
        """Join the sets of i and j; -> (cluster of i, cluster of j, merged size)."""
        ri, rj = self.find(i), self.find(j)
        a, b = int(self.cluster[ri]), int(self.cluster[rj])
        if self.size[ri] < self.size[rj]:
            ri, rj = rj, ri
        self.parent[rj] = ri
        self.size[ri] += self.size[rj]
        self.cluster[ri] = new_cluster
        return a, b, int(self.size[ri])
