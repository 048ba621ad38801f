"""Thumbnails of a tree's images, for the dendrogram picture and the HTML report.

A cluster's representatives are its members ordered by summed latent similarity to the
others, the medoid first: for centred unit latents u (`training/similarity.normalise`),
score_i = u_i · Σ_j u_j, since w = (1 + cos) / 2 is linear in the cosine. A leaf's picture
is the image file `IMAGES/<leaf name>` loaded as the training data is (any format, any
bit depth, the largest centred square) at THUMBNAIL_PX pixels; an unreadable one is
skipped for the next.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

THUMBNAIL_PX = 64
TRIES = 5  # unreadable images tried beyond the wanted count before giving up


def central_first(leaves: Sequence[int], unit: np.ndarray | None) -> list[int]:
    """`leaves` ordered by summed latent similarity to the others (the medoid first);
    unchanged without latents. `unit`: (n, D) centred unit latents."""
    if unit is None:
        return list(leaves)
    index = np.asarray(leaves, dtype=np.int64)
    rows = unit[index]
    score = rows @ rows.sum(axis=0)
    return index[np.argsort(-score, kind="stable")].tolist()


def thumbnail(path: Path) -> np.ndarray | None:
    """(S, S, 3) floats in [0, 1] for display (channels beyond 3 dropped, gray repeated);
    None when the file cannot be read."""
    from infohier_cli.data.read import ImageSpec, load_image

    try:
        image = load_image(path, ImageSpec(THUMBNAIL_PX, 0, "auto"))
    except Exception:  # any decoder failure: the caller tries the next image
        return None
    pixels = image.clamp(0, 1).permute(1, 2, 0).numpy()
    if pixels.shape[2] == 1:
        return np.repeat(pixels, 3, axis=2)
    if pixels.shape[2] == 2:
        return np.concatenate([pixels, np.zeros_like(pixels[:, :, :1])], axis=2)
    return pixels[:, :, :3]


def readable_pictures(
    names: Sequence[str], leaves: Iterable[int], images: Path, count: int, load=thumbnail
) -> list[tuple[int, np.ndarray]]:
    """The first `count` leaves of `leaves` whose image under `images` can be read, with
    their pictures; at most `count + TRIES` files are tried. `load` maps a path to a
    picture or None (a cache may stand in for `thumbnail`)."""
    found: list[tuple[int, np.ndarray]] = []
    for tried, leaf in enumerate(leaves):
        if len(found) == count or tried == count + TRIES:
            break
        source = Path(images) / names[leaf]
        picture = load(source) if source.is_file() else None
        if picture is not None:
            found.append((leaf, picture))
    return found
