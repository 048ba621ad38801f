"""Atomic file writes: write to a temporary file beside the target, then rename over it.

A reader never sees a half-written file, and an interrupted write leaves the old file intact.
Only regular files (or new paths) are replaced that way: a FIFO, a character device
(`/dev/null`), a pipe from process substitution, and any path under /dev or /proc or
reached through a link into them (`/dev/stdout`, `/dev/fd/1`, a link to
`/proc/self/fd/1`: the caller's own streams, even when redirected to a file) are written
straight through. Any other link is followed: the file it points to is replaced, the link
kept. Temporary names are unique (`.NAME.XXXXXXXX.tmp`, mkstemp); the file gets the
permissions of the file it replaces, or those a new file would get (0666 less the umask),
as `cp` gives. A target that is a folder, or that cannot be written (read-only place,
full disk), is a UserError.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from infohier_cli.errors import UserError

TMP_NAME_KEEP = 200  # characters of the target's name in its temporary file's (255 at most)
WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM}


def _cannot_write(target: Path, error: OSError) -> UserError:
    return UserError(f"cannot write {target}: {error.strerror or error}")


def lands_inside(path: Path | str, folder: Path | str) -> bool:
    """Whether `path`, links resolved, is `folder` or lies under it (so writing or deleting
    `path` touches what `folder` holds)."""
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(folder))


def written_file(target: Path | str) -> Path:
    """The file a write to `target` replaces: `target` with its links followed."""
    return Path(os.path.realpath(target))


def temporary_prefix(target: Path) -> str:
    """The start of a temporary name beside `target` (`.NAME.`), its name cut to
    TMP_NAME_KEEP characters so that the whole name stays within 255."""
    return f".{target.name[:TMP_NAME_KEEP]}."


def kept_mode(target: Path) -> int:
    """The permissions a file written to `target` gets: those of the file it replaces, as
    `cp` onto an existing file keeps them, else a new file's (`new_mode`)."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        return new_mode()


def new_mode(base: int = 0o666) -> int:
    """The permissions a new file (base 0o666) or folder (0o777) gets: base less the umask."""
    mask = os.umask(0)
    os.umask(mask)
    return base & ~mask


@contextlib.contextmanager
def atomic_path(target: Path | str) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto `target` on success.

    When `target` exists and is not a regular file (FIFO, device), yield `target` itself.
    """
    target = Path(target)
    if target.is_dir():
        raise UserError(f"cannot write {target}: it is a folder")
    if written_through(target):
        try:
            yield target
        except OSError as error:  # /proc/version, a closed pipe's device: the target's fault
            raise _cannot_write(target, error) from None
        return
    target = written_file(target)  # a link stays, the file it names is replaced
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=temporary_prefix(target), suffix=".tmp", dir=target.parent
        )
    except OSError as error:
        raise _cannot_write(target, error) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, kept_mode(target))
        os.replace(tmp_path, target)
    except OSError as error:
        if error.errno in WRITE_ERRNOS:
            raise _cannot_write(target, error) from None
        raise
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def written_through(target: Path) -> bool:
    """Whether `target` is written in place rather than replaced (module docstring): an
    existing non-regular file, or a path under /dev or /proc, or a chain of links through
    one."""
    if target.exists() and not target.is_file():
        return True
    path = Path(os.path.abspath(target))
    for _ in range(40):  # the kernel's own limit on links in a chain
        if path.parts[1:2] in (("dev",), ("proc",)):
            return True
        if not path.is_symlink():
            return False
        path = Path(os.path.abspath(path.parent / os.readlink(path)))
    return False


@contextlib.contextmanager
def atomic_open(target: Path | str, mode: str = "w", **kwargs) -> Iterator[IO]:
    """Open a temporary file for writing; it replaces `target` when the block ends cleanly."""
    with atomic_path(target) as tmp, open(tmp, mode, **kwargs) as handle:
        yield handle


@contextlib.contextmanager
def open_output(target: Path | str | None, **kwargs) -> Iterator[IO]:
    """A text stream for the user's `--out`: stdout for None or '-', else an atomic file."""
    import sys

    if target is None or str(target) == "-":
        if sys.stdout is None:
            raise UserError("stdout is closed: give --out FILE")
        if kwargs.get("errors") and hasattr(sys.stdout, "reconfigure"):
            sys.stdout.reconfigure(errors=kwargs["errors"])  # names that are not UTF-8
        yield sys.stdout  # a write error here (a full disk) is reported by cli.app.main
        sys.stdout.flush()
        return
    with atomic_open(target, "w", **kwargs) as handle:
        yield handle
