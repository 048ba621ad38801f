"""Cluster folders: `infohier export --folders OUT --cut K`.

OUT gets one folder per cluster of the cut into k (`c0`..`c3` for 4 clusters, `c00`..`c11`
for 12: the CSV's cluster numbers, zero-padded), each holding a symbolic link to every
image of the cluster (absolute target) or, with `copy`, a copy of it; plus `clusters.csv`
(path, cluster folder, file name in it). A leaf's sample id is its path relative to the
image folder; inside a cluster folder its `/` become `__` (`plate 1/a.tif` -> `plate
1__a.tif`); any other character (spaces, quotes, non-ASCII) is kept as it is. Ids that
flatten to the same name (`x/y.png` and `x__y.png`) get `~2`, `~3`, ... before the
extension, in leaf order. The folder is built beside OUT and renamed into place, so OUT is
never half-written; it gets the permissions `mkdir` would give it (0777 less the umask,
keeping a setgid bit inherited from its parent). A non-empty OUT is refused unless
`replace` is set and OUT is an earlier export (it holds `clusters.csv`) that does not hold
the image folder; then OUT is replaced entirely. Leaves that are absolute paths or climb
out through `..` are refused."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from infohier_cli.atomic import lands_inside, new_mode, temporary_prefix, written_file
from infohier_cli.errors import UserError
from infohier_cli.tables import TableWriter
from infohier_cli.trees.files import unique_names
from infohier_cli.trees.tree import Tree

MANIFEST = "clusters.csv"


def flat_names(sample_ids: Sequence[str]) -> list[str]:
    """The file name of each sample inside its cluster folder: `/` -> `__`, made unique."""
    return unique_names([sample_id.replace("/", "__") for sample_id in sample_ids], True)


def cluster_folder_names(k: int) -> list[str]:
    """c0..c(k-1), the cluster numbers of `export --cut` / `report` / `assign`, zero-padded
    to the same width: c0..c3 for 4 clusters, c00..c11 for 12."""
    width = len(str(k - 1))
    return [f"c{i:0{width}d}" for i in range(k)]


def check_cluster_folders(tree: Tree, images: Path, out: Path, replace: bool) -> list[Path]:
    """UserError unless OUT may be written for `tree` (module docstring); -> each leaf's
    image file. `export` calls it before writing any of its outputs."""
    images, out = Path(images), Path(out)
    if not images.is_dir():
        raise UserError(f"--images: no such folder: {images}")
    if out.exists() and not out.is_dir():
        raise UserError(f"--folders: {out} exists and is not a folder")
    if lands_inside(out, images):
        raise UserError(
            f"--folders {out} is inside the image folder {images}: its images would join "
            "that folder's at the next train; choose a folder outside it"
        )
    if lands_inside(Path.cwd(), out):
        raise UserError(
            f"--folders {out} holds the current folder, which cannot be replaced; run the "
            "command from outside it"
        )
    if out.is_dir() and any(out.iterdir()):
        refuse_replacing(out, images, replace)
    outside = [name for name in tree.names if not _relative_inside(name)]
    if outside:
        raise UserError(
            f"{len(outside)} leaves (e.g. {outside[0]!r}) are not paths inside the image "
            "folder (an absolute path, or one through '..'): give a tree with path labels"
        )
    sources = [images / name for name in tree.names]
    missing = [
        name for name, source in zip(tree.names, sources, strict=True) if not source.is_file()
    ]
    if missing:
        raise UserError(
            f"{len(missing)} leaves (e.g. {missing[0]!r}) are not files under {images}; "
            "give the image folder the tree was made from (--images), and a tree with "
            "path labels"
        )
    return sources


def write_cluster_folders(
    tree: Tree,
    k: int,
    images: Path,
    out: Path,
    *,
    copy: bool = False,
    replace: bool = False,
    warn: Callable[[str], None] = print,
) -> int:
    """Write OUT (module docstring) for the cut of `tree` into `k`; -> files written. A
    link OUT is followed: the folder it names is the one written or replaced."""
    shown = Path(out)
    out = written_file(shown) if shown.is_symlink() else shown
    sources = check_cluster_folders(tree, images, out, replace)
    clusters = tree.cut(k)
    names = cluster_folder_names(k)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(
            tempfile.mkdtemp(prefix=temporary_prefix(out), suffix=".tmp", dir=out.parent)
        )
    except OSError as error:  # a read-only or missing parent
        raise UserError(f"--folders: {out}: {error.strerror or error}") from None
    files = flat_names(tree.names)
    try:
        os.chmod(staging, new_mode(0o777) | (staging.stat().st_mode & stat.S_ISGID))
        for name in names:
            (staging / name).mkdir()
        for file, source, cluster in zip(files, sources, clusters, strict=True):
            target = staging / names[cluster] / file
            if copy:
                shutil.copy2(source, target)
            else:
                os.symlink(os.path.abspath(source), target)
        with open(
            staging / MANIFEST, "w", newline="", encoding="utf-8", errors="surrogateescape"
        ) as handle:
            writer = TableWriter(handle)
            writer.writerow(["path", "cluster", "file"])
            writer.writerows(
                (sample_id, names[c], file)
                for sample_id, c, file in zip(tree.names, clusters, files, strict=True)
            )
        _swap_into_place(staging, out)
    except OSError as error:  # a flattened name too long, an unreadable image
        place = str(error.filename2 or error.filename or out)  # os.symlink: the link is 2nd
        place = place.replace(str(staging), str(out), 1)  # where it was to be
        raise UserError(f"--folders: {place}: {error.strerror or error}") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    warn(f"{tree.n} images in {k} cluster folders -> {shown} ({'copies' if copy else 'links'})")
    return tree.n


def refuse_replacing(out: Path, images: Path, replace: bool) -> None:
    """UserError unless the non-empty folder `out` may be replaced: `replace` is set, and
    `out` is an earlier export (it holds `MANIFEST`) that does not hold the image folder."""
    if not replace:
        raise UserError(f"--folders: {out} is not empty (add --overwrite to replace it)")
    if not (out / MANIFEST).is_file():
        raise UserError(
            f"--folders: {out} is not empty and is not an earlier export (no {MANIFEST}); "
            "--overwrite replaces only such a folder: choose another one"
        )
    if lands_inside(images, out):
        raise UserError(f"--folders: {out} holds the image folder {images}; choose another one")


def _relative_inside(name: str) -> bool:
    """Whether the leaf `name` is a relative path that stays inside its folder."""
    path = Path(name)
    return bool(name) and not path.is_absolute() and ".." not in path.parts


def _swap_into_place(staging: Path, out: Path) -> None:
    """Rename `staging` to `out`; an existing `out` is moved aside first, then deleted."""
    if not out.exists():
        os.replace(staging, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
    try:
        os.replace(out, old / "previous")
    except OSError:
        old.rmdir()
        raise
    os.replace(staging, out)
    shutil.rmtree(old)
