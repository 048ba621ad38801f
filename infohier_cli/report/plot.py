"""Draw a tree in the Poincaré disk: unit circle, leaves coloured by cluster, and every merge
as hyperbolic geodesic arcs from the inner node (the LCA of its children) to its children.

Colours, arcs and positions all come from the tree being drawn: the colours are a cut of it,
the arcs its merges, and with the `tree` layout (the default) the leaves sit on a circle in
the tree's own leaf order, so every cluster is one sector and clusters never overlap. The
`disk` layout puts the leaves at their learnt disk points instead (a tree decoded from the
disk, `infohier tree --source disk`, matches them; a latent tree's clusters may overlap).
A legend names each cluster (its id in the `--cut` CSV) and its size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from infohier_cli.atomic import atomic_path
from infohier_cli.errors import UserError
from infohier_cli.report.picture_file import picture_format, pyplot
from infohier_cli.trees.tree import Tree

ARC_SAMPLES = 24
PLOT_LAYOUTS = ("tree", "disk")
LEAF_RADIUS = 0.9  # the tree layout's circle of leaves
LEGEND_ROWS = 20  # clusters named in the legend; the rest summed up in one line
PLOT_FORMATS = ("png", "svg", "pdf", "jpg", "jpeg", "tif", "tiff", "eps", "ps")


def plot_format(out: Path | str) -> str:
    """The picture format of `out` from its extension (none = png); UserError if unknown."""
    return picture_format("--plot", out, PLOT_FORMATS, "png")


def tree_layout(tree: Tree, order: np.ndarray) -> np.ndarray:
    """(n, 2) leaf positions from the tree alone: on the circle of radius LEAF_RADIUS,
    in the leaf (dendrogram) `order` (`Tree.cut_in_leaf_order`), equally spaced, so each
    subtree spans one arc and each cluster of the cut one sector."""
    rank = np.empty(tree.n, dtype=np.int64)
    rank[order] = np.arange(tree.n)
    angle = 2.0 * np.pi * (rank + 0.5) / tree.n
    return LEAF_RADIUS * np.stack([np.cos(angle), np.sin(angle)], axis=1)


def node_positions(tree: Tree, leaves: np.ndarray | None = None) -> np.ndarray:
    """(2n−1, 2) positions: leaves from `leaves` (default the tree's own points), inner
    node = hyperbolic LCA of its children's positions (so every parent sits nearer the
    origin than its subtrees)."""
    import torch

    from infohier_cli.model.hyperbolic import lca_point

    positions = np.zeros((2 * tree.n - 1, 2))
    positions[: tree.n] = (tree.leaf_points if leaves is None else leaves)[:, :2]
    points = torch.from_numpy(positions)
    for row, (a, b) in enumerate(tree.children()):
        points[tree.n + row] = lca_point(points[a], points[b])
    return points.numpy()


def cluster_colours(clusters: np.ndarray, order: np.ndarray) -> np.ndarray:
    """(k,) colour index of each cluster id: its rank in the leaf `order` (as in
    `tree_layout`), so that clusters next to each other differ in colour."""
    order = clusters[order]
    _, first = np.unique(order, return_index=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first)] = np.arange(len(first))
    return rank


def geodesic_arcs(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """(E, ARC_SAMPLES, 2) points along the geodesics from starts[e] to ends[e]."""
    import geoopt
    import torch

    ball = geoopt.PoincareBall(c=1.0)
    t = torch.linspace(0.0, 1.0, ARC_SAMPLES, dtype=torch.float64)[None, :, None]
    x = torch.from_numpy(starts)[:, None, :]
    y = torch.from_numpy(ends)[:, None, :]
    return ball.geodesic(t, x, y).numpy()


def plot_disk(tree: Tree, out: Path, k: int | None = None, layout: str = "tree") -> None:
    """Save the disk picture of `tree` (PNG/SVG/PDF by extension) atomically.

    Leaves are coloured by the cut into k clusters (k = min(10, n) when not given);
    `layout`: `tree` (leaf positions from the tree's order) or `disk` (the tree's leaf
    points, e.g. the learnt embedding)."""
    plt = pyplot()
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    if layout not in PLOT_LAYOUTS:
        raise UserError(f"--plot-layout must be one of {', '.join(PLOT_LAYOUTS)}")
    if layout == "disk" and (tree.leaf_points is None or tree.leaf_points.shape[1] < 2):
        raise UserError("--plot needs leaf coordinates in the disk (a JSON tree, or --embeddings)")
    n = tree.n
    k = min(k or 10, n)
    clusters, order = tree.cut_in_leaf_order(k)
    positions = node_positions(tree, tree_layout(tree, order) if layout == "tree" else None)
    kids = tree.children()
    parents = np.repeat(np.arange(n, 2 * n - 1), 2)
    arcs = geodesic_arcs(positions[parents], positions[kids.ravel()]) if n > 1 else []
    scale = min(1.0, 12.0 / np.sqrt(n))
    figure, axes = plt.subplots(figsize=(8, 8), dpi=150)
    axes.add_patch(plt.Circle((0, 0), 1.0, fill=False, color="black", linewidth=1.0))
    axes.add_collection(
        LineCollection(arcs, colors="0.45", linewidths=0.2 + 0.8 * scale, alpha=0.35 + 0.5 * scale)
    )
    palette = plt.get_cmap("tab20" if k > 10 else "tab10")
    colour_of = cluster_colours(clusters, order) % palette.N
    axes.scatter(
        positions[:n, 0],
        positions[:n, 1],
        c=palette(colour_of[clusters]),
        s=4 + 36 * scale,
        edgecolors="none",
        zorder=3,
    )
    sizes = np.bincount(clusters, minlength=k)
    handles = [
        Line2D(
            [], [], marker="o", linestyle="", color=palette(colour_of[c]), label=f"{c}: {sizes[c]}"
        )
        for c in range(min(k, LEGEND_ROWS))
    ]
    if k > LEGEND_ROWS:
        rest = int(sizes[LEGEND_ROWS:].sum())
        handles.append(Line2D([], [], linestyle="", label=f"+{k - LEGEND_ROWS} more: {rest}"))
    axes.legend(
        handles=handles,
        title="cluster: images",
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        frameon=False,
        fontsize=8,
        title_fontsize=8,
    )
    axes.set_xlim(-1.05, 1.05)
    axes.set_ylim(-1.05, 1.05)
    axes.set_aspect("equal")
    axes.axis("off")
    where = "in the tree's leaf order" if layout == "tree" else "at their disk points"
    axes.set_title(f"{n} images {where}, coloured by the cut into {k} clusters", fontsize=10)
    out = Path(out)
    with atomic_path(out) as tmp:
        figure.savefig(tmp, format=plot_format(out), bbox_inches="tight")
    plt.close(figure)
