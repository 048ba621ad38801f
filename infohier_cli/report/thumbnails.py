"""Thumbnails of a tree's images, for the dendrogram picture and the HTML report.

A cluster's representatives are its members ordered by summed latent similarity to the
others, the medoid first: for centred unit latents u (`training/similarity.normalise`),
score_i = u_i · Σ_j u_j, since w = (1 + cos) / 2 is linear in the cosine. A leaf's picture
is its sample under the image folder (the file `IMAGES/<leaf name>`, or with `--group` the
sample's channel files) loaded as the training data is (any format, any bit depth, the
largest centred square) at THUMBNAIL_PX pixels; an unreadable one is skipped for the next.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from infohier_cli.data.samples import Sample

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


def sample_picture(root: Path, sample: Sample) -> np.ndarray | None:
    """(S, S, 3) floats in [0, 1] for display: the sample's files under `root` loaded as
    training reads them (channel files stacked), but whole (a non-square image padded:
    `--fit pad`), its first three channels as red, green and blue (one channel: gray; two:
    red and green); None when it cannot be read."""
    from infohier_cli.data.read import ImageSpec, load_sample

    try:
        image = load_sample(Path(root), sample, ImageSpec(THUMBNAIL_PX, 3, "auto", fit="pad"))
    except Exception:  # any decoder failure or missing file: the caller tries the next one
        return None
    return image.clamp(0, 1).permute(1, 2, 0).numpy()


def leaf_pictures(
    names: Sequence[str], images: Path, group: str = ""
) -> Callable[[int], np.ndarray | None]:
    """leaf -> its picture: the sample named by its leaf name under `images` (the image
    file of that relative path; with a `--group` regex, that sample's channel files)."""
    by_id: dict[str, Sample] = {}
    if group:
        from infohier_cli.data.group import folder_samples

        by_id = {sample.id: sample for sample in folder_samples(Path(images), group)[0]}

    def picture(leaf: int) -> np.ndarray | None:
        name = names[leaf]
        sample = by_id.get(name) if group else Sample(name, (name,))
        return None if sample is None else sample_picture(images, sample)

    return picture


def readable_pictures(
    leaves: Iterable[int], count: int, picture: Callable[[int], np.ndarray | None]
) -> list[tuple[int, np.ndarray]]:
    """The first `count` leaves of `leaves` whose `picture` can be read, with it; at most
    `count + TRIES` leaves are tried."""
    found: list[tuple[int, np.ndarray]] = []
    for tried, leaf in enumerate(leaves):
        if len(found) == count or tried == count + TRIES:
            break
        shown = picture(leaf)
        if shown is not None:
            found.append((leaf, shown))
    return found
