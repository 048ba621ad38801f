"""Tree: a merge list in scipy's linkage format plus leaf names, and its file formats.

One representation everywhere: `linkage` (n−1, 4) — row i joins clusters a, b (leaves
0..n−1, node n+i made by row i) at height h, holding `size` leaves — heights monotone.
Optional `points` hold ball coordinates: leaves (n, d) and inner nodes (n−1, d).

Newick out: leaf names single-quoted whenever they hold anything outside [A-Za-z0-9.-/],
apostrophes doubled; branch length = parent height − child height (>= 0); inner nodes
unlabelled; always ends with ';' and a newline. JSON out: {schema, n_leaves, root, linkage}
with a nested root that d3.hierarchy reads as it is. Both read back (round trip); any
Newick (multifurcating, missing lengths) reads into a binary tree.
All traversals are iterative: a million leaves or a caterpillar tree of any depth is fine.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from infohier_cli.errors import UserError
from infohier_cli.tables import json_text

JSON_SCHEMA = "infohier-tree/1"
SAFE_NAME = re.compile(r"[A-Za-z0-9./-]+")


@dataclass
class Tree:
    """A rooted binary tree over `names` (n leaves) given by a linkage matrix."""

    names: list[str]
    linkage: np.ndarray
    leaf_points: np.ndarray | None = None
    node_points: np.ndarray | None = None
    _children: np.ndarray | None = field(default=None, repr=False)
    _sizes: np.ndarray | None = field(default=None, repr=False)
    _kids_list: list[list[int]] | None = field(default=None, repr=False)
    _leaf_position: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.linkage = np.asarray(self.linkage, dtype=np.float64).reshape(-1, 4)
        if len(self.linkage) != max(len(self.names) - 1, 0):
            raise ValueError("a tree over n leaves needs n − 1 linkage rows")

    @property
    def n(self) -> int:
        return len(self.names)

    @property
    def root(self) -> int:
        return 2 * self.n - 2 if self.n > 1 else 0

    def children(self) -> np.ndarray:
        """(n−1, 2) int array: the two children of inner node n+i."""
        if self._children is None:
            self._children = self.linkage[:, :2].astype(np.int64)
        return self._children

    def height(self, node: int) -> float:
        return float(self.linkage[node - self.n, 2]) if node >= self.n else 0.0

    def postorder(self, turned: frozenset[int] = frozenset()) -> list[tuple[int, bool]]:
        """(node, True) when entering an inner node, (node, False) when leaving any node;
        the children of the nodes in `turned` are visited second child first."""
        out: list[tuple[int, bool]] = []
        stack = [(self.root, True)]
        kids = self.children()
        while stack:
            node, entering = stack.pop()
            if node >= self.n and entering:
                out.append((node, True))
                stack.append((node, False))
                a, b = kids[node - self.n]
                first, second = (b, a) if node in turned else (a, b)
                stack.append((int(second), True))
                stack.append((int(first), True))
            else:
                out.append((node, False))
        return out

    def leaf_order(self, turned: frozenset[int] = frozenset()) -> np.ndarray:
        """Leaves in left-to-right (dendrogram) order; `turned` nodes' children swapped."""
        return np.array(
            [node for node, entering in self.postorder(turned) if not entering and node < self.n],
            dtype=np.int64,
        )

    def cut_in_leaf_order(
        self, k: int, min_size: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """`cut(k, min_size)` and a leaf order in which each of its clusters is one run: the
        tree's own order with each merge whose small side stayed in a cluster turned so
        that this side comes first (a dendrogram rotation; the tree is the same)."""
        tops, turned = self._cut(k, min_size)
        return self._labels(tops)[0], self.leaf_order(turned)

    def leaf_position(self) -> np.ndarray:
        """(n,) int64: each leaf's place in `leaf_order()` (0 = leftmost); computed once."""
        if self._leaf_position is None:
            self._leaf_position = np.empty(self.n, dtype=np.int64)
            self._leaf_position[self.leaf_order()] = np.arange(self.n)
        return self._leaf_position

    def sizes(self) -> np.ndarray:
        """(2n − 1,) int64: the number of leaves under each node (leaves 1)."""
        if self._sizes is None:
            size = [1] * self.n + [0] * (self.n - 1)
            for row, (a, b) in enumerate(self._children_list()):
                size[self.n + row] = size[a] + size[b]
            self._sizes = np.array(size, dtype=np.int64)
        return self._sizes

    def cut(self, k: int, min_size: int | None = None) -> np.ndarray:
        """Cluster id (0..k−1) of each leaf in the cut into k (see `clusters`)."""
        return self.clusters(k, min_size)[0]

    def clusters(self, k: int, min_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The cut into k -> (cluster id of each leaf (n,), top node of each cluster (k,)).

        Merges are undone from the highest (the last linkage row) down, as in a plain cut,
        but a merge makes two clusters only when both its sides hold at least m leaves
        (`min_size`; default `min_cluster_size`(n, k)). A merge that joined fewer than m
        leaves to a larger group is undone without making a cluster of them: they stay in
        the cluster of the group they joined, and that group's own merges are looked at
        next. So the strays single linkage joins last do not take clusters of their own (a
        size floor as in HDBSCAN's condensed tree). A cluster is its top node's leaves less
        those of the clusters below it. With m = 1 this is the plain cut (the k − 1
        highest merges undone); when k clusters of m leaves do not exist, m is halved until
        they do.
        Ids follow the clusters' order in the tree's leaf order (`leaf_order`, left to
        right in the dendrogram), which a tree keeps through Newick and JSON alike."""
        return self._labels(self._cut(k, min_size)[0])

    def _labels(self, tops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The leaves' cluster ids for the clusters with these top nodes, ids in the order
        of each cluster's first leaf in `leaf_order` -> (ids (n,), the tops reordered by id
        (k,))."""
        top_set, kids = set(tops.tolist()), self._children_list()
        label = [-1] * (2 * self.n - 1)
        label[self.root] = self.root
        for row in range(self.n - 2, -1, -1):  # parents (larger ids) before children
            for child in kids[row]:
                label[child] = child if child in top_set else label[self.n + row]
        found, inverse = np.unique(label[: self.n], return_inverse=True)
        first = np.full(len(found), self.n, dtype=np.int64)
        np.minimum.at(first, inverse, self.leaf_position())
        rank = np.empty_like(first)
        rank[np.argsort(first)] = np.arange(len(first))
        ordered = np.empty(len(found), dtype=np.int64)
        ordered[rank] = found
        return rank[inverse], ordered

    def _cut(self, k: int, min_size: int | None) -> tuple[np.ndarray, frozenset[int]]:
        """The top node of each of the k clusters of `clusters` (each the lowest node
        holding all its cluster's leaves), and the merges to turn for `cut_in_leaf_order`.

        Each cluster walks down from its top: at a merge with two large sides the second
        side starts a new cluster; at a merge with one, the small side stays in the
        cluster (which then can no longer move its top below that merge)."""
        if not 1 <= k <= self.n:
            raise UserError(f"cannot cut a tree of {self.n} leaves into {k} clusters")
        least = min_cluster_size(self.n, k) if min_size is None else max(1, min_size)
        if self.n > 1:  # the walk reaches every node of ≥ m leaves, so it can make
            sizes, kids = self.sizes(), self.children()  # 1 + #(merges of two ≥ m sides)
            smaller = np.minimum(sizes[kids[:, 0]], sizes[kids[:, 1]])
            while least > 1 and 1 + np.count_nonzero(smaller >= least) < k:
                least //= 2
        return self._walk(k, least)

    def _children_list(self) -> list[list[int]]:
        """`children()` as Python lists (fast to index one by one)."""
        if self._kids_list is None:
            self._kids_list = self.children().tolist()
        return self._kids_list

    def _walk(self, k: int, least: int) -> tuple[np.ndarray, frozenset[int]]:
        """`_cut` with the size floor `least`, which allows k clusters."""
        import heapq

        sizes, kids = self.sizes().tolist(), self._children_list()
        tops, absorbed, turned = [self.root], [False], set()
        walks = [(-self.root, 0)] if self.root >= self.n else []  # (−node, cluster)
        while len(tops) < k and walks:
            negated, cluster = heapq.heappop(walks)
            node = -negated
            a, b = kids[node - self.n]
            large = [c for c in (a, b) if sizes[c] >= least]
            if len(large) == 2:
                if not absorbed[cluster]:
                    tops[cluster] = a
                tops.append(b)
                absorbed.append(False)
                owners = [(a, cluster), (b, len(tops) - 1)]
            else:
                absorbed[cluster] = True
                if large == [a]:
                    turned.add(node)  # the small side first, so the cluster stays one run
                owners = [(c, cluster) for c in large]
            for child, owner in owners:
                if child >= self.n:
                    heapq.heappush(walks, (-child, owner))
        return np.array(tops, dtype=np.int64), frozenset(turned)

    # ---------------------------------------------------------------- Newick
    def to_newick(self, names: list[str] | None = None) -> str:
        """Newick text (see module docstring); `names` replaces the leaf labels."""
        labels = [quote_newick(x) for x in (names or self.names)]
        if self.n == 1:
            return f"{labels[0]};\n"
        parts: list[str] = []
        parent_height = np.zeros(2 * self.n - 1)
        kids = self.children()
        parent_height[kids.ravel()] = np.repeat(self.linkage[:, 2], 2)
        for node, entering in self.postorder():
            if entering:
                if parts and parts[-1] != "(":
                    parts.append(",")
                parts.append("(")
                continue
            if node >= self.n:
                parts.append(")")
            else:
                if parts and parts[-1] != "(":
                    parts.append(",")
                parts.append(labels[node])
            if node != self.root:
                length = max(0.0, parent_height[node] - self.height(node))
                parts.append(f":{length:.6g}")
        parts.append(";\n")
        return "".join(parts)

    @classmethod
    def from_newick(cls, text: str, warn: Callable[[str], None] | None = None) -> Tree:
        """Parse Newick (quoted/unquoted names, lengths, [comments]) into a binary Tree.
        `warn` hears how many negative branch lengths (a neighbour-joining tree's, say)
        were read as 0."""
        return _tree_from_nested(*_parse_newick(text), warn)

    # ---------------------------------------------------------------- JSON
    def to_json(self) -> str:
        """JSON text: {schema, n_leaves, root (nested, d3.hierarchy-ready), linkage}.
        Written without recursion, so a tree of any depth (a caterpillar) can be saved."""
        kids = self.children()

        def fields(node: int) -> dict:
            entry: dict = {"id": int(node), "height": self.height(node)}
            if node < self.n:
                entry.update(name=self.names[node], path=self.names[node], size=1)
                points, row = self.leaf_points, node
            else:
                entry.update(name=f"n{node}", size=int(self.linkage[node - self.n, 3]))
                points, row = self.node_points, node - self.n
            if points is not None:
                entry.update(x=float(points[row, 0]), y=float(points[row, 1]))
            return entry

        parts: list[str] = []
        stack: list[int | str] = [self.root]
        while stack:
            item = stack.pop()
            if isinstance(item, str):
                parts.append(item)
                continue
            text = json_text(fields(item))
            if item < self.n:
                parts.append(text)
            else:
                a, b = kids[item - self.n]
                parts.append(text[:-1] + ', "children": [')
                stack.extend(["]}", int(b), ", ", int(a)])
        head = json.dumps({"schema": JSON_SCHEMA, "n_leaves": self.n})[:-1]
        linkage = json.dumps(self.linkage.tolist())
        return f'{head}, "root": {"".join(parts)}, "linkage": {linkage}}}\n'

    @classmethod
    def from_json(cls, text: str, warn: Callable[[str], None] | None = None) -> Tree:
        """Read JSON written by `to_json` (names from the leaves, rows from `linkage`). A
        merge height below one of its children's (a hand-edited file) is raised to it, as
        a negative Newick length is read as 0; `warn` hears how many were."""
        try:
            try:
                document = json.loads(text)
            except RecursionError:  # deeper than the json module goes by default
                document = _loads_deep(text)
            if not isinstance(document, dict) or document.get("schema") != JSON_SCHEMA:
                raise ValueError("unknown schema")
            n = int(document["n_leaves"])
            names: list[str | None] = [None] * n
            points = np.full((n, 2), np.nan)
            stack = [document["root"]]
            while stack:
                entry = stack.pop()
                if "children" in entry:
                    stack.extend(entry["children"])
                else:
                    names[entry["id"]] = entry["path"]
                    if "x" in entry:
                        points[entry["id"]] = (entry["x"], entry["y"])
            if any(name is None for name in names):
                raise ValueError("leaf ids do not cover 0..n−1")
            leaf_points = None if np.isnan(points).any() else points
            linkage = np.array(document["linkage"], dtype=np.float64)
            if linkage.size and (linkage.ndim != 2 or linkage.shape[1] != 4):
                raise ValueError(f"linkage must be rows of 4 numbers, not {linkage.shape}")
            check_linkage(linkage.reshape(-1, 4), n)
            linkage, raised = monotone_heights(linkage.reshape(-1, 4), n)
            if raised and warn is not None:
                plural = "s" if raised > 1 else ""
                warn(f"note: {raised} merge height{plural} below a child's raised to it")
            return cls(names, linkage, leaf_points=leaf_points)
        except (ValueError, KeyError, TypeError, IndexError) as error:
            if isinstance(error, KeyError):
                error = f"missing key {error}"
            raise UserError(f"not an infohier JSON tree ({error})") from None


MIN_CLUSTER_SHARE = 0.2


def min_cluster_size(n: int, k: int) -> int:
    """m = max(1, round(MIN_CLUSTER_SHARE · n / k)): the fewest leaves a split must set
    apart to make a cluster of its own in the cut into k (that share of an even share; see
    `Tree.clusters`). Chosen on the development suite's single-linkage trees (BENCHMARKS.md)."""
    return max(1, round(MIN_CLUSTER_SHARE * n / k))


def check_linkage(linkage: np.ndarray, n: int) -> None:
    """ValueError unless `linkage` (n-1, 4) is a binary tree over n leaves in scipy's
    format: row i merges two earlier nodes (< n+i), each node but the root merged once,
    finite heights."""
    if len(linkage) != max(n - 1, 0):
        raise ValueError(f"{n} leaves need {max(n - 1, 0)} linkage rows, not {len(linkage)}")
    if not np.isfinite(linkage).all():
        raise ValueError("linkage holds NaN or inf")
    kids = linkage[:, :2]
    if (kids != np.floor(kids)).any() or (kids < 0).any():
        raise ValueError("linkage children must be node indices")
    if (kids >= (n + np.arange(len(linkage)))[:, None]).any():
        raise ValueError("a linkage row merges a node made later")
    used = np.bincount(kids.astype(np.int64).ravel(), minlength=2 * n - 1)
    if len(linkage) and (used[: 2 * n - 2] != 1).any():
        raise ValueError("a node is merged twice or never")


def monotone_heights(linkage: np.ndarray, n: int) -> tuple[np.ndarray, int]:
    """(linkage with every merge height raised to at least its children's, leaves at 0;
    how many were raised). linkage: (n−1, 4), checked by `check_linkage`."""
    heights = np.concatenate([np.zeros(n), linkage[:, 2]])
    below = linkage[:, 2] < heights[linkage[:, :2].astype(np.int64)].max(axis=1, initial=0.0)
    if not below.any():
        return linkage, 0
    out, raised = linkage.copy(), 0
    for row, (a, b) in enumerate(linkage[:, :2].astype(np.int64).tolist()):
        low = max(heights[a], heights[b], 0.0)
        if heights[n + row] < low:
            heights[n + row], raised = low, raised + 1
    out[:, 2] = heights[n:]
    return out, raised


def quote_newick(name: str) -> str:
    """A Newick label: bare when it only holds [A-Za-z0-9./-], else quoted, ' doubled."""
    if SAFE_NAME.fullmatch(name):
        return name
    return "'" + name.replace("'", "''") + "'"


def _parse_newick(text: str) -> tuple[list[str], list[list[int]], list[float], int]:
    """Tokenise and parse Newick -> (leaf names, children per node, branch lengths, root).

    Nodes are numbered in creation order; leaves are the nodes without children."""
    text = text.strip()
    if not text.endswith(";"):
        raise UserError("not a Newick tree: it does not end with ';'")
    children: list[list[int]] = []
    labels: list[str] = []
    lengths: list[float] = []

    def new_node() -> int:
        children.append([])
        labels.append("")
        lengths.append(0.0)
        return len(children) - 1

    stack: list[int] = []
    current = new_node()
    root = current
    pos, end = 0, len(text) - 1
    try:
        while pos < end:
            char = text[pos]
            if char == "(":
                child = new_node()
                children[current].append(child)
                stack.append(current)
                current = child
                pos += 1
            elif char == ",":
                child = new_node()
                children[stack[-1]].append(child)
                current = child
                pos += 1
            elif char == ")":
                current = stack.pop()
                pos += 1
            elif char == ":":
                match = re.compile(r"\s*([^,():;\[\s]+)").match(text, pos + 1)
                lengths[current] = float(match.group(1))
                pos = match.end()
            elif char == "[":
                pos = text.index("]", pos) + 1
            elif char == "'":
                label, pos = _quoted(text, pos)
                labels[current] = label
            elif char.isspace():
                pos += 1
            else:
                match = re.compile(r"[^,():;\[\]']+").match(text, pos)
                labels[current] = match.group(0).strip().replace("_", " ")
                pos = match.end()
    except (IndexError, ValueError, AttributeError):
        raise UserError(f"malformed Newick near character {pos}") from None
    if stack:
        raise UserError("malformed Newick: unbalanced parentheses")
    return labels, children, lengths, root


def _quoted(text: str, pos: int) -> tuple[str, int]:
    """Read a quoted label starting at text[pos] == "'" -> (label, position after it)."""
    out = []
    pos += 1
    while True:
        close = text.index("'", pos)
        out.append(text[pos:close])
        if close + 1 < len(text) and text[close + 1] == "'":
            out.append("'")
            pos = close + 2
        else:
            return "".join(out), close + 1


_JSON_TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<mark>[{}\[\]:,])|(?P<value>[-+.\w]+))', re.S
)


_JSON_LITERALS = {"true": True, "false": False, "null": None}


def _loads_deep(text: str):
    """json.loads for documents nested deeper than the recursion limit: the C parser in a
    thread with a large stack and a raised limit; where the interpreter caps C recursion
    itself (Python >= 3.12), the explicit-stack parser below (slower, any depth)."""
    result: dict = {}

    def parse() -> None:
        old = sys.getrecursionlimit()
        sys.setrecursionlimit(max(old, 4 * text.count("{") + 1000))
        try:
            result["document"] = json.loads(text)
        except RecursionError:
            pass
        except ValueError as error:
            result["error"] = error
        finally:
            sys.setrecursionlimit(old)

    previous = threading.stack_size(512 << 20)
    try:
        worker = threading.Thread(target=parse)
        worker.start()
        worker.join()
    finally:
        threading.stack_size(previous)
    if "error" in result:
        raise result["error"]
    return result["document"] if "document" in result else _loads_iterative(text)


def _loads_iterative(text: str):
    """A JSON document parsed with an explicit stack (no recursion, any depth)."""
    containers: list = []
    keys: list = []  # the pending key of each open object
    pos, document, done = 0, None, False
    for match in _JSON_TOKEN.finditer(text):
        if match.start() != pos:
            break
        pos = match.end()
        kind, token = match.lastgroup, match.group(match.lastgroup)
        if kind == "mark":
            if token in ":,":
                continue
            if token in "{[":
                containers.append({} if token == "{" else [])
                keys.append(None)
                continue
            if not containers:
                raise ValueError("unbalanced JSON")
            value = containers.pop()
            keys.pop()
        else:
            if kind == "string":
                value = token[1:-1] if "\\" not in token else json.loads(token)
            elif token in _JSON_LITERALS:
                value = _JSON_LITERALS[token]
            else:
                value = float(token) if any(c in token for c in ".eEnN") else int(token)
            if keys and keys[-1] is None and isinstance(containers[-1], dict):
                keys[-1] = value
                continue
        if not containers:
            if done:
                raise ValueError("extra data after the JSON document")
            document, done = value, True
        elif isinstance(containers[-1], list):
            containers[-1].append(value)
        elif keys[-1] is None:
            raise ValueError("an object key must be a string")
        else:
            containers[-1][keys[-1]] = value
            keys[-1] = None
    if text[pos:].strip():
        raise ValueError(f"bad JSON near character {pos}")
    if containers or not done:
        raise ValueError("truncated JSON")
    return document


def _tree_from_nested(
    labels: list[str],
    children: list[list[int]],
    lengths: list[float],
    root: int,
    warn: Callable[[str], None] | None = None,
) -> Tree:
    """Binary Tree from parsed Newick: heights from branch lengths (ultrametric heights
    = max over children of child height + max(length, 0): a merge never sits below its
    children; `warn` hears how many lengths were negative), multifurcations chained at
    equal height. Leaves keep their file order, and each merge its children's (so the tree
    is drawn, and its cuts numbered, as before it was written)."""
    order: list[int] = []  # postorder
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        if done or not children[node]:
            order.append(node)
            continue
        stack.append((node, True))
        stack.extend((c, False) for c in reversed(children[node]))
    leaves = [node for node in order if not children[node]]
    n = len(leaves)
    negative = sum(lengths[node] < 0 for node in order if node != root)
    if negative and warn is not None:
        plural = "s" if negative > 1 else ""
        warn(f"note: {negative} negative branch length{plural} read as 0")
    height = {node: 0.0 for node in leaves}
    temp_id = {node: i for i, node in enumerate(leaves)}
    merges: list[tuple[float, int, int]] = []  # (height, a, b); merge m makes temp id n+m
    for node in order:
        kids = children[node]
        if not kids:
            continue
        height[node] = max(height[c] + max(lengths[c], 0.0) for c in kids)
        acc = temp_id[kids[0]]
        for c in kids[1:]:
            merges.append((height[node], acc, temp_id[c]))
            acc = n + len(merges) - 1
        temp_id[node] = acc
    # sort by height; a child was made before its parent, so ties keep children first
    final = list(range(n)) + [0] * len(merges)
    sizes = [1] * n + [0] * len(merges)
    rows = np.zeros((len(merges), 4))
    for row, m in enumerate(sorted(range(len(merges)), key=lambda m: (merges[m][0], m))):
        h, a, b = merges[m]
        final[n + m] = n + row
        sizes[n + m] = sizes[a] + sizes[b]
        rows[row] = (final[a], final[b], h, sizes[n + m])  # children in file order
    return Tree([labels[node] for node in leaves], rows)
