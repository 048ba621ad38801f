"""Draw a tree in the Poincaré disk: unit circle, leaves coloured by cluster, and every merge
as hyperbolic geodesic arcs from the inner node (the LCA of its children) to its children."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from infohier_cli.atomic import atomic_path
from infohier_cli.errors import UserError
from infohier_cli.model.hyperbolic import lca_point
from infohier_cli.trees.tree import Tree

ARC_SAMPLES = 24
PLOT_FORMATS = ("png", "svg", "pdf", "jpg", "jpeg", "tif", "tiff", "eps", "ps")


def plot_format(out: Path | str) -> str:
    """The picture format of `out` from its extension (none = png); UserError if unknown."""
    suffix = Path(out).suffix.lstrip(".").lower() or "png"
    if suffix not in PLOT_FORMATS:
        raise UserError(
            f"--plot {out}: unknown picture format .{suffix} (use one of {', '.join(PLOT_FORMATS)})"
        )
    return suffix


def node_positions(tree: Tree) -> np.ndarray:
    """(2n−1, 2) positions: leaves from the tree, inner node = hyperbolic LCA of its
    children's positions (so every parent sits nearer the origin than its subtrees)."""
    positions = np.zeros((2 * tree.n - 1, 2))
    positions[: tree.n] = tree.leaf_points[:, :2]
    points = torch.from_numpy(positions)
    for row, (a, b) in enumerate(tree.children()):
        points[tree.n + row] = lca_point(points[a], points[b])
    return points.numpy()


def geodesic_arcs(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """(E, ARC_SAMPLES, 2) points along the geodesics from starts[e] to ends[e]."""
    import geoopt

    ball = geoopt.PoincareBall(c=1.0)
    t = torch.linspace(0.0, 1.0, ARC_SAMPLES, dtype=torch.float64)[None, :, None]
    x = torch.from_numpy(starts)[:, None, :]
    y = torch.from_numpy(ends)[:, None, :]
    return ball.geodesic(t, x, y).numpy()


def plot_disk(tree: Tree, out: Path, k: int | None = None) -> None:
    """Save the disk picture of `tree` (PNG/SVG/PDF by extension) atomically.

    Leaves are coloured by the cut into k clusters (k = min(10, n) when not given)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    if tree.leaf_points is None or tree.leaf_points.shape[1] < 2:
        raise UserError("--plot needs leaf coordinates in the disk (a JSON tree, or --embeddings)")
    n = tree.n
    k = min(k or 10, n)
    clusters = tree.cut(k)
    positions = node_positions(tree)
    kids = tree.children()
    parents = np.repeat(np.arange(n, 2 * n - 1), 2)
    arcs = geodesic_arcs(positions[parents], positions[kids.ravel()]) if n > 1 else []
    scale = min(1.0, 12.0 / np.sqrt(n))
    figure, axes = plt.subplots(figsize=(8, 8), dpi=150)
    axes.add_patch(plt.Circle((0, 0), 1.0, fill=False, color="black", linewidth=1.0))
    axes.add_collection(
        LineCollection(arcs, colors="0.45", linewidths=0.2 + 0.8 * scale, alpha=0.35 + 0.5 * scale)
    )
    colours = plt.get_cmap("tab20" if k > 10 else "tab10")(clusters % 20)
    axes.scatter(
        positions[:n, 0], positions[:n, 1], c=colours, s=4 + 36 * scale, edgecolors="none", zorder=3
    )
    axes.set_xlim(-1.05, 1.05)
    axes.set_ylim(-1.05, 1.05)
    axes.set_aspect("equal")
    axes.axis("off")
    axes.set_title(f"{n} images in the Poincaré disk, coloured by the cut into {k} clusters")
    out = Path(out)
    with atomic_path(out) as tmp:
        figure.savefig(tmp, format=plot_format(out), bbox_inches="tight")
    plt.close(figure)
