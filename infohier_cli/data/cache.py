"""The decoded-image cache: a folder's samples decoded once, at the training size, into a
memory-mapped file on disk that training, `--resume`, `embed` and `assign` read from.

A cache folder (a run's `RUN/cache/`, see `RunDir.cache`) holds, for each image folder F
(F: 16 hex digits of sha256 of the folder's resolved path, so one cache per folder):

    F-K.npy    pixels (N, C, S, S), uint8 or uint16; row i is sample i (K: 16 digits of
               the key; rows of unreadable samples are zeros and never read)
    F.json     the index: the key, the pixel file's name, the unreadable samples' rows
               and reasons
    F.lock     held (flock) while a process checks or builds F's cache

Key: sha256 over CACHE_FORMAT, the infohier version, the image spec (size, channels,
intensity rule, pixel limit) and, for every sample in order, its id and, for each of its
files, the relative path, size and mtime_ns. A file added, removed, rewritten or touched,
or another spec, changes the key, and the cache is rebuilt (replacing F's old one).

Values: a sample decoded to x ∈ [0, 1] (read.py) is stored as round(x · M), in uint8
(M = 255) when all its files are 8-bit, else in uint16 (M = 65535); a folder with both is
stored in uint16 (8-bit values times 257, exact). Read back as stored / M in float32: an
8-bit image at its own size reads back exactly as decoded, a resized one within half a
grey level. N·C·S² bytes (twice that in uint16): 600 MB for 200,000 RGB images at 32 px.

Atomic: pixels are written to a temporary file renamed to F-K.npy once complete, then the
index is written atomically, and only an index whose key matches is trusted: a build
killed at any point leaves the previous cache (whose key no longer matches) or nothing
used. The next build of F removes its leftover temporary files.
Memory: rows are written with pwrite and read through a memory map, so the process holds
no copy of the pixels (the OS page cache does). `PixelFile` maps the file lazily, once per
process: DataLoader workers open their own map.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from infohier_cli.atomic import atomic_open, atomic_path
from infohier_cli.data.read import ImageSpec
from infohier_cli.data.samples import Sample

CACHE_FORMAT = "infohier-pixels/2"  # change it when read.py decodes differently
DIGITS = 16  # hex digits of the folder's and the key's hashes in file names
COPY_ROWS = 4096  # rows copied at a time when a cache is widened to uint16


def quantize(image, dtype: type[np.integer]) -> np.ndarray:
    """(C, S, S) float tensor in [0, 1] -> the same shape in `dtype`: round(x · max)."""
    top = np.iinfo(dtype).max
    return (image.clamp(0.0, 1.0) * top).round().numpy().astype(dtype)


def dequantize(pixels: np.ndarray):
    """Stored pixels (uint8 or uint16, any shape) -> float32 tensor: stored / max."""
    import torch

    return torch.from_numpy(pixels.astype(np.float32)) / float(np.iinfo(pixels.dtype).max)


def cache_key(root: Path, samples: Sequence[Sample], spec: ImageSpec) -> str:
    """sha256 (hex) of what the cached pixels depend on (module docstring)."""
    from infohier_cli import __version__

    digest = hashlib.sha256(
        json.dumps([CACHE_FORMAT, __version__, dataclasses.astuple(spec)]).encode()
    )
    for sample in samples:
        digest.update(b"\0\0" + os.fsencode(sample.id))
        for rel in sample.files:
            try:
                stat = os.stat(Path(root) / rel)
                facts = f"{stat.st_size} {stat.st_mtime_ns}"
            except OSError:  # gone: its sample is reported unreadable by the build
                facts = "missing"
            digest.update(b"\0" + os.fsencode(rel) + b"\0" + facts.encode())
    return digest.hexdigest()


class PixelFile:
    """A cache's pixels, (N, C, S, S) uint8 or uint16 in a .npy file, mapped read-only on
    first use in each process (the map is never pickled: a worker maps its own)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._map: np.ndarray | None = None

    def __getstate__(self) -> dict:
        return {"path": self.path, "_map": None}

    @property
    def array(self) -> np.ndarray:
        if self._map is None:
            self._map = np.load(self.path, mmap_mode="r")
        return self._map

    def image(self, row: int):
        """Row `row` as a (C, S, S) float32 tensor in [0, 1]."""
        return dequantize(self.array[row])


@dataclass(frozen=True)
class Cached:
    """A trusted cache: its pixels, and the (row, reason) of its unreadable samples."""

    pixels: PixelFile
    skipped: list[tuple[int, str]]


class RowWriter:
    """Writes decoded samples into a temporary .npy file, row by row (pwrite: the process
    keeps no pages of it); starts in the first sample's dtype and widens to uint16 when a
    deeper sample follows 8-bit ones."""

    def __init__(self, tmp: Path, rows: int, shape: tuple[int, ...]):
        self.tmp, self.rows, self.shape = tmp, rows, tuple(shape)
        self.fd = os.open(tmp, os.O_RDWR)
        self.dtype: np.dtype | None = None
        self.offset = 0
        self.filled = 0  # rows [0, filled) may hold data
        self.skipped: list[tuple[int, str]] = []

    @property
    def row_bytes(self) -> int:
        return int(np.prod(self.shape)) * self.dtype.itemsize

    def put(self, row: int, pixels: np.ndarray) -> None:
        """Store sample `row` ((C, S, S) uint8 or uint16, from `quantize`)."""
        if self.dtype is None:
            self._start(pixels.dtype)
        elif pixels.dtype.itemsize > self.dtype.itemsize:
            self._widen()
        if pixels.dtype != self.dtype:
            pixels = pixels.astype(self.dtype) * 257  # uint8 into uint16: x/255 = 257x/65535
        os.pwrite(self.fd, np.ascontiguousarray(pixels).tobytes(), self._at(row))
        self.filled = max(self.filled, row + 1)

    def skip(self, row: int, reason: str) -> None:
        """Sample `row` could not be read (its row stays zeros)."""
        self.skipped.append((row, reason))

    def close(self) -> None:
        if self.dtype is None:  # nothing readable: an all-zero file all the same
            self._start(np.dtype(np.uint8))
        os.close(self.fd)

    def _at(self, row: int) -> int:
        return self.offset + row * self.row_bytes

    def _start(self, dtype: np.dtype) -> None:
        """Write the .npy header for `dtype` and size the file (sparse: zeros cost nothing)."""
        self.dtype = np.dtype(dtype)
        header = {
            "descr": np.lib.format.dtype_to_descr(self.dtype),
            "fortran_order": False,
            "shape": (self.rows, *self.shape),
        }
        with open(self.tmp, "r+b") as handle:
            np.lib.format.write_array_header_1_0(handle, header)
            self.offset = handle.tell()
            handle.truncate(self.offset + self.rows * self.row_bytes)

    def _widen(self) -> None:
        """Copy the rows so far, as uint16 (times 257), into a fresh file at `tmp`."""
        narrow = self.tmp.with_name(self.tmp.name + ".narrow.tmp")
        os.replace(self.tmp, narrow)
        old_fd, old_offset, old_row = self.fd, self.offset, self.row_bytes
        self.fd = os.open(self.tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            self._start(np.dtype(np.uint16))
            for start in range(0, self.filled, COPY_ROWS):
                count = min(COPY_ROWS, self.filled - start)
                block = os.pread(old_fd, count * old_row, old_offset + start * old_row)
                wide = np.frombuffer(block, np.uint8).astype(np.uint16) * 257
                os.pwrite(self.fd, wide.tobytes(), self._at(start))
        finally:
            os.close(old_fd)
            narrow.unlink()


class PixelCache:
    """The cache of one image folder's samples under one spec, in `directory` (None: a
    temporary folder, removed when the returned `PixelFile` is garbage-collected; also
    used, with a warning, when `directory` cannot be written)."""

    def __init__(
        self,
        directory: Path | None,
        root: Path,
        samples: Sequence[Sample],
        spec: ImageSpec,
        warn: Callable[[str], None] = print,
    ):
        self.warn = warn
        self.name = hashlib.sha256(os.fsencode(Path(root).resolve())).hexdigest()[:DIGITS]
        self.key = cache_key(root, samples, spec)
        self.rows, self.shape = len(samples), (spec.channels, spec.size, spec.size)
        self.temporary = directory is None
        self.directory = Path(directory) if directory is not None else None

    @property
    def index(self) -> Path:
        return self.directory / f"{self.name}.json"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold F's lock (waiting, with a message, while another process builds F)."""
        if not self.temporary:
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.directory / f"{self.name}.lock", os.O_RDWR | os.O_CREAT, 0o666)
            except OSError as error:
                self.warn(
                    f"warning: cannot write the image cache in {self.directory} "
                    f"({error.strerror}); using a temporary one"
                )
                self.temporary = True
        if self.temporary:
            self.directory = Path(tempfile.mkdtemp(prefix="infohier-cache-"))
            fd = os.open(self.directory / f"{self.name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self.warn(f"waiting for another process building the image cache {self.index}")
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        except BaseException:
            if self.temporary:
                shutil.rmtree(self.directory, ignore_errors=True)
            raise
        finally:
            os.close(fd)

    def load(self) -> Cached | None:
        """The cache if its index holds this key and its pixel file exists, else None."""
        try:
            index = json.loads(self.index.read_text(encoding="utf-8"))
            if index.get("format") != CACHE_FORMAT or index.get("key") != self.key:
                return None
            pixels = PixelFile(self.directory / index["pixels"])
            if pixels.array.shape != (self.rows, *self.shape) or pixels.array.dtype not in (
                np.uint8,
                np.uint16,
            ):
                return None
            skipped = [(int(row), str(reason)) for row, reason in index["skipped"]]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if self.temporary:
            weakref.finalize(pixels, _remove_folder, self.directory, os.getpid())
        return Cached(pixels, skipped)

    @contextlib.contextmanager
    def build(self) -> Iterator[RowWriter]:
        """A RowWriter to fill with every sample; on a clean exit the cache is committed
        (pixels renamed into place, then the index), on an error nothing is left."""
        for stray in self.directory.glob(f".{self.name}-*.tmp"):  # of a killed build
            stray.unlink(missing_ok=True)
        pixels = self.directory / f"{self.name}-{self.key[:DIGITS]}.npy"
        with atomic_path(pixels) as tmp:
            writer = RowWriter(tmp, self.rows, self.shape)
            try:
                yield writer
            finally:
                writer.close()
        index = {
            "format": CACHE_FORMAT,
            "key": self.key,
            "pixels": pixels.name,
            "skipped": writer.skipped,
        }
        with atomic_open(self.index, "w", encoding="utf-8") as handle:
            json.dump(index, handle)
        for old in self.directory.glob(f"{self.name}-*.npy"):
            if old != pixels:
                old.unlink(missing_ok=True)


def _remove_folder(path: Path, owner: int) -> None:
    """Remove a temporary cache folder, from the process that made it only (a forked
    DataLoader worker inherits the finalizer, not the folder)."""
    if os.getpid() == owner:
        shutil.rmtree(path, ignore_errors=True)
