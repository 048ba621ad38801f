"""Finding the images under a folder, and grouping them into samples.

Discovery: recursive, follows folder symlinks once (a loop cannot hang or duplicate; a
link to a folder that is also under the root by its own path is not followed, so an image
keeps its real path whatever order the folder lists its entries in), skips
hidden files and folders, keeps the extensions in `IMAGE_SUFFIXES` in any letter case and
ignores everything else, including FIFOs, sockets and devices with an image's name (reading
a FIFO would hang). Names are paths relative to the folder with `/` separators, exactly
as on disk, sorted.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from infohier_cli.data.samples import Sample, one_file_samples
from infohier_cli.errors import UserError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp"})


def discover_images(root: Path, unreadable: Callable[[str, str], None] | None = None) -> list[str]:
    """Relative `/`-separated paths of every image under `root`, sorted.

    A subfolder that cannot be listed is told to `unreadable` (its relative path with a
    final `/`, and the reason) and left out. Raises UserError when `root` is missing, is
    not a folder, cannot be listed, or holds no image.
    """
    root = Path(root)
    if not root.exists():
        raise UserError(f"no such folder: {root}")
    if not root.is_dir():
        raise UserError(f"not a folder: {root}")
    found: list[str] = []
    real_dirs: set[tuple[int, int]] | None = None  # listed at the first folder link met
    seen_dirs: set[tuple[int, int]] = set()

    def cannot_list(error: OSError) -> None:
        where = os.path.relpath(error.filename, root) if error.filename else "."
        reason = (
            f"a folder that cannot be read ({error.strerror or error}): its images are left out"
        )
        if where == ".":
            raise UserError(f"cannot read the folder {root}: {error.strerror or error}")
        if unreadable is not None:
            unreadable(where.replace(os.sep, "/") + "/", reason)

    for dirpath, dirnames, filenames in _walk(root, followlinks=True, onerror=cannot_list):
        identity = _identity(dirpath)
        if identity in seen_dirs:
            dirnames[:] = []
            continue
        seen_dirs.add(identity)
        links = [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
        if links and real_dirs is None:
            real_dirs = {_identity(path) for path, _, _ in _walk(root, followlinks=False)}
        for link in links:
            if _identity(os.path.join(dirpath, link)) in (real_dirs or ()):
                dirnames.remove(link)
        rel_dir = os.path.relpath(dirpath, root)
        for name in filenames:
            if name.startswith(".") or os.path.splitext(name)[1].lower() not in IMAGE_SUFFIXES:
                continue
            if not _regular_or_unreadable(os.path.join(dirpath, name)):
                continue
            rel = name if rel_dir == "." else os.path.join(rel_dir, name)
            found.append(rel.replace(os.sep, "/"))
    if not found:
        suffixes = ", ".join(sorted(s.lstrip(".") for s in IMAGE_SUFFIXES))
        raise UserError(f"no images found in {root} (looked for {suffixes})")
    return sorted(found)


def _walk(root: Path, followlinks: bool, onerror: Callable[[OSError], None] | None = None):
    """os.walk over the folders that are not hidden, each folder's subfolders in name order
    (`onerror` as os.walk's: told of each folder that cannot be listed)."""
    for dirpath, dirnames, filenames in os.walk(root, onerror=onerror, followlinks=followlinks):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        yield dirpath, dirnames, filenames


def _identity(path: str) -> tuple[int, int]:
    """(device, inode) of the folder at `path`, links followed."""
    info = os.stat(path)
    return info.st_dev, info.st_ino


def _regular_or_unreadable(path: str) -> bool:
    """False for FIFOs, sockets and devices; a file that cannot be stat'ed is kept, so
    that reading it reports why."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return True


def discover_samples(
    root: Path, unreadable: Callable[[str, str], None] | None = None
) -> list[Sample]:
    """The samples under `root`: one per image file, its id the relative path
    (`unreadable` as `discover_images`')."""
    return one_file_samples(discover_images(root, unreadable))
