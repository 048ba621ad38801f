"""Samples: what a leaf of the tree stands for.

A sample has an id and one or more files (paths relative to the image folder, with `/`).
Today every image file is its own sample, and its relative path is its id; a sample made
of several files (channels of one field of view, say) is a later feature, but every
consumer (leaf names, CSV rows, embeddings, checkpoints) already carries the sample id,
never a file path.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Sample:
    """One item to place in the tree: `id` (unique, used as leaf name) and its `files`."""

    id: str
    files: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.files:
            raise ValueError(f"sample {self.id!r} has no file")


def one_file_samples(paths: Iterable[str]) -> list[Sample]:
    """The default grouping: each file is a sample whose id is its relative path."""
    return [Sample(path, (path,)) for path in paths]


def as_samples(items: Sequence[Sample | str]) -> list[Sample]:
    """Samples from samples or plain relative paths (each path one sample)."""
    return [item if isinstance(item, Sample) else Sample(item, (item,)) for item in items]


def sample_changes(before: Sequence[str], after: Sequence[str]) -> str:
    """How the sample ids `after` differ from `before`, for an error message: "2 new (e.g.
    'x.png'), 1 missing or unreadable (e.g. 'y.png')", or "another order"."""
    new, gone = sorted(set(after) - set(before)), sorted(set(before) - set(after))
    parts = [f"{len(new)} new (e.g. {new[0]!r})"] if new else []
    parts += [f"{len(gone)} missing or unreadable (e.g. {gone[0]!r})"] if gone else []
    return ", ".join(parts) or "another order"
