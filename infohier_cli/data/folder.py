"""Decoding a folder's samples once, into the decoded-image cache on disk (data/cache.py),
and reading them back from it; the unreadable ones are reported.

A file that cannot be read is reported (sample id, reason) and its sample left out; the
run goes on. A cache that matches the folder's files and the spec is reused without
decoding anything (its unreadable samples are reported again).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from infohier_cli.data.cache import PixelCache, PixelFile, RowWriter, quantize
from infohier_cli.data.read import ImageSpec, describe_error, read_sample
from infohier_cli.data.samples import Sample, as_samples
from infohier_cli.errors import UserError


class _TryLoad:
    """Dataset of (index, stored pixels or None, reason): decodes, never raises."""

    def __init__(self, root: Path, samples: Sequence[Sample], spec: ImageSpec):
        self.root, self.samples, self.spec = root, list(samples), spec

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        try:
            image, eight_bit = read_sample(self.root, self.samples[index], self.spec)
            return index, quantize(image, np.uint8 if eight_bit else np.uint16), ""
        except Exception as error:  # any decoder failure means "skip this file"
            return index, None, describe_error(error)


class ImageFolder:
    """The readable samples of a folder; `dataset[i]` is a (C, S, S) float32 tensor, read
    from the cache's memory-mapped pixels (row `rows[i]`)."""

    def __init__(
        self,
        root: Path,
        samples: list[Sample],
        spec: ImageSpec,
        pixels: PixelFile,
        rows: np.ndarray,
    ):
        self.root, self.samples, self.spec = Path(root), samples, spec
        self.pixels, self.rows = pixels, rows

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
        return self.pixels.image(int(self.rows[index]))


def scan_folder(
    root: Path,
    samples: Sequence[Sample | str],
    spec: ImageSpec,
    *,
    cache_dir: Path | None = None,
    workers: int = 0,
    warn: Callable[[str], None] = print,
    progress: bool = True,
) -> tuple[ImageFolder, list[tuple[str, str]]]:
    """Decode every sample once into the cache in `cache_dir` (None: a temporary one), or
    reuse the cache there when it matches; return the readable samples and the skipped
    (id, reason). `samples` may be plain relative paths (each one a sample); `spec` needs
    a channel count."""
    if not spec.channels:
        raise ValueError("scan_folder needs an ImageSpec with a channel count")
    root = Path(root)
    samples = as_samples(samples)
    cache = PixelCache(cache_dir, root, samples, spec, warn)
    with cache.locked():
        cached = cache.load()
        if cached is None:
            with cache.build() as writer:
                _decode(writer, root, samples, spec, workers, progress)
            cached = cache.load()
    if cached is None:
        raise UserError(f"the image cache in {cache.directory} could not be read back")
    skipped = [(samples[row].id, reason) for row, reason in cached.skipped]
    for sample_id, reason in skipped:
        warn(f"warning: skipped unreadable file {sample_id!r} ({reason})")
    if skipped:
        warn(f"warning: skipped {len(skipped)} unreadable file(s) of {len(samples)}")
    rows = np.setdiff1d(np.arange(len(samples)), [row for row, _ in cached.skipped])
    if not len(rows):
        raise UserError(f"none of the {len(samples)} image file(s) in {root} could be read")
    kept = [samples[row] for row in rows]
    return ImageFolder(root, kept, spec, cached.pixels, rows), skipped


def _decode(
    writer: RowWriter,
    root: Path,
    samples: list[Sample],
    spec: ImageSpec,
    workers: int,
    progress: bool,
) -> None:
    """Decode every sample (in `workers` processes) into `writer`, with a progress bar."""
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    loader = DataLoader(
        _TryLoad(root, samples, spec), batch_size=32, num_workers=workers, collate_fn=list
    )
    bar = tqdm(
        total=len(samples), desc="reading images", unit="img", disable=not progress, leave=False
    )
    for batch in loader:
        for index, pixels, reason in batch:
            if pixels is None:
                writer.skip(index, reason)
            else:
                writer.put(index, pixels)
        bar.update(len(batch))
    bar.close()
