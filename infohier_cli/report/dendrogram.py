"""A conventional dendrogram picture: `infohier export --dendrogram tree.png|tree.svg`.

The tree is truncated to its top levels (scipy's `truncate_mode="lastp"`): the p subtrees
left below the p − 1 highest merges (the plain cut; `--cut p` keeps the few images joined
last in the cluster they joined, so its clusters can differ). Each of them
is one leaf of the picture, labelled with its number of images; with an image folder, a
thumbnail sits under it: the cluster's medoid in latent space (`report/thumbnails.py`), or
its first image when no latents match the tree.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from infohier_cli.atomic import atomic_path
from infohier_cli.errors import UserError
from infohier_cli.report.picture_file import picture_format, pyplot
from infohier_cli.report.thumbnails import (
    THUMBNAIL_PX,
    central_first,
    leaf_pictures,
    readable_pictures,
)
from infohier_cli.trees.tree import Tree

DENDROGRAM_FORMATS = ("png", "svg")


def dendrogram_format(out: Path | str) -> str:
    """The picture format of `out` from its extension; UserError unless .png or .svg."""
    return picture_format("--dendrogram", out, DENDROGRAM_FORMATS, "")


def scipy_linkage(tree: Tree) -> np.ndarray:
    """The tree's linkage as scipy's dendrogram wants it: heights shifted to be ≥ 0 and
    column 3 the subtree sizes (recomputed, whatever the file said)."""
    linkage = tree.linkage.copy()
    kids = tree.children()
    sizes = np.ones(2 * tree.n - 1)
    for row, (a, b) in enumerate(kids):
        sizes[tree.n + row] = sizes[a] + sizes[b]
    linkage[:, 3] = sizes[tree.n :]
    linkage[:, 2] -= min(0.0, float(linkage[:, 2].min()))
    return linkage


def members(tree: Tree, node: int) -> list[int]:
    """The leaves under `node`, left to right."""
    kids, out, stack = tree.children(), [], [node]
    while stack:
        current = stack.pop()
        if current < tree.n:
            out.append(current)
        else:
            a, b = kids[current - tree.n]
            stack += [int(b), int(a)]
    return out


def cluster_thumbnail(tree: Tree, leaves: Sequence[int], images: Path, unit) -> np.ndarray | None:
    """The thumbnail of a cluster: its medoid's (or first readable image's) picture."""
    found = readable_pictures(central_first(leaves, unit), 1, leaf_pictures(tree.names, images))
    return found[0][1] if found else None


def unit_latents(
    tree: Tree, embeddings_file: Path, warn: Callable[[str], None], required: bool
) -> np.ndarray | None:
    """Centred unit latents of the tree's leaves (n, D), for the thumbnails' medoids. When
    the embeddings file is missing or does not hold the tree's leaves: UserError if the
    user named it (`required`), else None with a note (each cluster's first image)."""
    from infohier_cli.training.similarity import normalise
    from infohier_cli.trees.cut_auto import leaf_latents

    try:
        if not Path(embeddings_file).is_file():
            raise UserError(f"no embeddings file at {embeddings_file}")
        return normalise(leaf_latents(tree, embeddings_file))
    except UserError as error:
        if required:
            raise UserError(f"--embeddings: {error}") from None
        warn(f"note: --dendrogram thumbnails show each cluster's first image ({error})")
        return None


def plot_dendrogram(
    tree: Tree,
    out: Path,
    leaves: int = 30,
    images: Path | None = None,
    unit: np.ndarray | None = None,
    warn: Callable[[str], None] = print,
) -> None:
    """Save the dendrogram of `tree`'s top levels to `out` (PNG or SVG) atomically.

    `leaves`: how many clusters the truncated tree ends in (fewer if the tree has fewer
    leaves); `images`: the image folder, for a thumbnail under each of them, showing the
    cluster's medoid by `unit` (`unit_latents`; None: its first image)."""
    plt = pyplot()
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage
    from scipy.cluster.hierarchy import dendrogram

    fmt = dendrogram_format(out)
    if images is not None and not Path(images).is_dir():
        raise UserError(f"--images: no such folder: {images}")
    if tree.n < 2:
        raise UserError("--dendrogram needs a tree of at least 2 leaves")
    if leaves < 2:
        raise UserError("--dendrogram-leaves must be at least 2")
    p = min(leaves, tree.n)
    linkage = scipy_linkage(tree)
    sizes = np.concatenate([np.ones(tree.n), linkage[:, 3]]).astype(int)
    width = max(6.0, 0.32 * p)
    figure, axes = plt.subplots(figsize=(width, 4.5), dpi=150)
    with warnings.catch_warnings():  # a tree without heights: scipy's harmless ylim note
        warnings.simplefilter("ignore", UserWarning)
        drawn = dendrogram(
            linkage,
            truncate_mode="lastp",
            p=p,
            ax=axes,
            leaf_label_func=lambda node: str(sizes[node]),
            leaf_rotation=90 if p > 12 else 0,
            leaf_font_size=7,
            color_threshold=0,
            above_threshold_color="0.25",
        )
    axes.set_ylabel("merge height")
    axes.set_title(f"{tree.n} images, top {p} clusters (images in each below)", fontsize=10)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    if images is not None:
        spacing_pt = 72.0 * width * 0.8 / p
        size_pt = min(48.0, 0.9 * spacing_pt)
        missing = 0
        for i, node in enumerate(drawn["leaves"]):
            picture = cluster_thumbnail(tree, members(tree, node), images, unit)
            if picture is None:
                missing += 1
                continue
            box = AnnotationBbox(
                OffsetImage(picture, zoom=size_pt / THUMBNAIL_PX),
                (5.0 + 10.0 * i, 0.0),
                xycoords=("data", "axes fraction"),
                xybox=(0.0, -2.0),
                boxcoords="offset points",
                box_alignment=(0.5, 1.0),
                frameon=False,
                pad=0.0,
            )
            axes.add_artist(box)
        axes.tick_params(axis="x", pad=size_pt + 4.0)
        if missing:
            warn(
                f"note: --dendrogram: {missing} of {p} clusters have no readable image under "
                f"{images} (is it the folder the tree was made from, with path labels?)"
            )
    out = Path(out)
    with atomic_path(out) as tmp:
        figure.savefig(tmp, format=fmt, bbox_inches="tight")
    plt.close(figure)
