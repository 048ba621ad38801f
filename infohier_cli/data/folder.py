"""Decoding a folder's samples once: the readable ones in memory, the unreadable reported.

A file that cannot be read is reported (sample id, reason) and its sample left out; the
run goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from infohier_cli.data.read import ImageSpec, describe_error, load_sample
from infohier_cli.data.samples import Sample, as_samples
from infohier_cli.errors import UserError


class _TryLoad:
    """Dataset wrapper that returns (index, tensor or None, reason) instead of raising."""

    def __init__(self, root: Path, samples: Sequence[Sample], spec: ImageSpec):
        self.root, self.samples, self.spec = root, list(samples), spec

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        try:
            return index, load_sample(self.root, self.samples[index], self.spec), ""
        except Exception as error:  # any decoder failure means "skip this file"
            return index, None, describe_error(error)


class ImageFolder:
    """The readable samples of a folder; `dataset[i]` is a (C, S, S) float32 tensor.

    Holds the decoded tensors in memory when they fit the cache budget, else decodes
    on demand (every file was already decoded once by `scan_folder`).
    """

    def __init__(self, root: Path, samples: list[Sample], spec: ImageSpec, cache=None):
        self.root, self.samples, self.spec, self.cache = Path(root), samples, spec, cache

    @property
    def ids(self) -> list[str]:
        """Sample ids, in dataset order."""
        return [sample.id for sample in self.samples]

    @property
    def paths(self) -> list[str]:
        """Same as `ids` (for one-file samples, the relative path)."""
        return self.ids

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        if self.cache is not None:
            return self.cache[index]
        return load_sample(self.root, self.samples[index], self.spec)


def scan_folder(
    root: Path,
    samples: Sequence[Sample | str],
    spec: ImageSpec,
    *,
    workers: int = 0,
    cache_bytes: int = 2 << 30,
    warn: Callable[[str], None] = print,
    progress: bool = True,
) -> tuple[ImageFolder, list[tuple[str, str]]]:
    """Decode every sample once; return the readable ones and the skipped (id, reason).

    `samples` may be plain relative paths (each one a sample)."""
    import torch
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    root = Path(root)
    samples = as_samples(samples)
    per_image = spec.channels * spec.size * spec.size * 4
    keep_cache = per_image * len(samples) <= cache_bytes
    loader = DataLoader(
        _TryLoad(root, samples, spec), batch_size=32, num_workers=workers, collate_fn=list
    )
    kept: list[Sample] = []
    tensors = []
    skipped: list[tuple[str, str]] = []
    bar = tqdm(
        total=len(samples), desc="reading images", unit="img", disable=not progress, leave=False
    )
    for batch in loader:
        for index, image, reason in batch:
            sample_id = samples[index].id
            if image is None:
                skipped.append((sample_id, reason))
                warn(f"warning: skipped unreadable file {sample_id!r} ({reason})")
                continue
            kept.append(samples[index])
            if keep_cache:
                tensors.append(image)
        bar.update(len(batch))
    bar.close()
    if skipped:
        warn(f"warning: skipped {len(skipped)} unreadable file(s) of {len(samples)}")
    if not kept:
        raise UserError(f"none of the {len(samples)} image file(s) in {root} could be read")
    cache = torch.stack(tensors) if keep_cache else None
    return ImageFolder(root, kept, spec, cache), skipped
