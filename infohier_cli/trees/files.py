"""Tree files in and out: write Newick/JSON (`infohier tree`), read them back, CSV cuts
and the disk plot (`infohier export`)."""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from infohier_cli.atomic import atomic_open, open_output, written_through
from infohier_cli.errors import UserError, require_text_input
from infohier_cli.tables import TableWriter
from infohier_cli.trees.tree import Tree

TREE_FORMATS = ("newick", "json")
EXPORT_FORMATS = (*TREE_FORMATS, "csv")
LABEL_MODES = ("path", "stem", "id")  # leaf labels: sample id, its file stem, or L000001...


def check_labels(out: Path | str, labels: str) -> None:
    """UserError for `--labels id` to stdout, a pipe or a device: the map of the ids to
    their paths goes to OUT.ids.tsv, beside a regular file."""
    if labels == "id" and (str(out) == "-" or written_through(Path(out))):
        raise UserError("--labels id needs a file --out: OUT.ids.tsv maps the ids to paths")


def write_tree(tree: Tree, out: Path | str, fmt: str, labels: str = "path") -> None:
    """Write Newick or JSON to `out` ('-' = stdout), atomically; labels path|stem|id.
    With 'id' leaves are L000001..., and `out`.ids.tsv maps each id to its path (TSV with
    a header `id, path`, LF line endings, a path holding a tab, CR, LF or '"' quoted as
    CSV does: tables.py)."""
    check_labels(out, labels)
    names = tree.names
    if labels == "stem":
        names = unique_names([Path(name).stem for name in tree.names])
    elif labels == "id":
        width = max(6, len(str(tree.n)))
        names = [f"L{i + 1:0{width}d}" for i in range(tree.n)]
    text = (
        tree.to_newick(names)
        if fmt == "newick"
        else Tree(names, tree.linkage, tree.leaf_points, tree.node_points).to_json()
    )
    with contextlib.ExitStack() as written:  # the ids land after the tree, or not at all
        if labels == "id":
            handle = written.enter_context(
                atomic_open(
                    f"{out}.ids.tsv", "w", encoding="utf-8", errors="surrogateescape", newline=""
                )
            )
            writer = TableWriter(handle, delimiter="\t")
            writer.writerow(["id", "path"])
            writer.writerows(zip(names, tree.names, strict=True))
        with open_output(out, encoding="utf-8", errors="surrogateescape") as handle:
            handle.write(text)


def unique_names(names: Sequence[str], keep_extension: bool = False) -> list[str]:
    """`names` with repeats made unique in leaf order: the first keeps its name, later
    ones become `name~2`, `name~3`, ... (skipping any name already taken); with
    `keep_extension`, file names keep their extension last (`a.png` -> `a~2.png`)."""
    taken = set(names)
    seen: set[str] = set()
    unique = []
    for name in names:
        if name in seen:
            stem, extension = os.path.splitext(name) if keep_extension else (name, "")
            k = 2
            while f"{stem}~{k}{extension}" in taken:
                k += 1
            name = f"{stem}~{k}{extension}"
            taken.add(name)
        seen.add(name)
        unique.append(name)
    return unique


def read_tree(path: Path, warn: Callable[[str], None] | None = None) -> Tree:
    """A tree from Newick or infohier JSON (JSON when the text starts with '{'); `warn`
    hears of negative Newick branch lengths read as 0 and JSON merge heights raised to
    their children's."""
    path = Path(path)
    require_text_input(path, "tree file")
    # newline="": a CR inside a quoted name is part of the name, not a line end
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as handle:
        text = handle.read()
    text = text.removeprefix("\ufeff")  # a byte-order mark some editors add
    if not text.strip():
        raise UserError(f"{path} is empty")
    notes: list[str] = []  # told only once the tree has passed every check
    try:
        if text.lstrip().startswith("{"):
            tree = Tree.from_json(text, notes.append)
        else:
            tree = Tree.from_newick(text, notes.append)
    except UserError as error:
        raise UserError(f"{path}: {error}") from None
    if "" in tree.names:
        raise UserError(f"{path}: a leaf has no name")
    if len(set(tree.names)) < tree.n:
        twice = next(name for name, count in Counter(tree.names).items() if count > 1)
        raise UserError(f"{path}: the leaf name {twice!r} appears more than once")
    if not np.isfinite(tree.linkage[:, 2]).all():
        raise UserError(f"{path}: a branch length or merge height is not a finite number")
    for note in notes if warn is not None else ():
        warn(f"{note} in {path}")
    return tree


def attach_points(tree: Tree, embeddings_file: Path) -> Tree:
    """Leaf coordinates for a tree that has none, looked up by sample id in an embeddings
    file."""
    from infohier_cli.embeddings import load_embeddings

    if tree.leaf_points is not None:
        return tree
    emb = load_embeddings(embeddings_file, with_latent=False)
    row = {name: i for i, name in enumerate(emb.ids)}
    missing = [name for name in tree.names if name not in row]
    if missing:
        raise UserError(
            f"{len(missing)} leaves (e.g. {missing[0]!r}) are not in "
            f"{embeddings_file}; pass --embeddings"
        )
    return Tree(tree.names, tree.linkage, emb.disk[[row[n] for n in tree.names]])


def write_cuts(tree: Tree, ks: Sequence[int], out: Path | str | None) -> None:
    """CSV: path (the sample id), then its cluster id when the tree is cut into each k."""
    cuts = [tree.cut(k) for k in ks]
    with open_output(out, newline="", encoding="utf-8", errors="surrogateescape") as handle:
        writer = TableWriter(handle)
        writer.writerow(["path"] + [f"k{k}" for k in ks])
        for i, name in enumerate(tree.names):
            writer.writerow([name] + [int(c[i]) for c in cuts])


FORMAT_OF_SUFFIX = {".csv": "csv", ".json": "json", ".nwk": "newick", ".newick": "newick"}


def export_format(out: Path | None, fmt: str | None, cuts: Sequence) -> str:
    """The format `infohier export` writes: `fmt` when given, else `out`'s suffix
    (`FORMAT_OF_SUFFIX`), else csv with cuts and Newick without."""
    if fmt is not None:
        return fmt
    suffix = Path(out).suffix.lower() if out is not None else ""
    return FORMAT_OF_SUFFIX.get(suffix, "csv" if cuts else "newick")


def export_tree(tree: Tree, out: Path | None, fmt: str, cuts: Sequence[int]) -> None:
    """`infohier export`'s file, in `fmt` (`export_format`): the tree (Newick or JSON) or
    the CSV of its cuts into flat clusters, to `out` or stdout."""
    if fmt == "csv" and not cuts:
        raise UserError("--format csv needs at least one --cut K")
    if fmt == "csv":
        write_cuts(tree, cuts, out)
    else:
        write_tree(tree, out, fmt)
