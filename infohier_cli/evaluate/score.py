"""Scoring a tree against labels: label levels from a CSV or from folder names, and the
report of `infohier eval` (dendrogram purity, cut scores, Dasgupta cost)."""

from __future__ import annotations

import csv
import posixpath
from collections.abc import Callable
from pathlib import Path

import numpy as np

from infohier_cli.errors import UserError, require_text_input
from infohier_cli.trees.tree import Tree


def label_key(path: str) -> str:
    """How a label file's path and a leaf name are matched: '/' or '\\' separators, a
    leading './' and repeated separators do not matter (`./plate 1\\a.tif` is
    `plate 1/a.tif`)."""
    return posixpath.normpath(path.replace("\\", "/"))


def read_label_levels(
    tree: Tree,
    labels_csv: Path | None,
    folder_depth: int | None,
    warn: Callable[[str], None] = print,
) -> tuple[dict[str, np.ndarray], int]:
    """Label levels for the tree's leaves -> ({level: (n,) int codes, −1 = none}, unmatched).

    From a CSV (path, class[, superclass, ...]: one level per column after the path; paths
    matched to leaves by `label_key`), or from the folder names above each image (level
    'folder-1' = parent, 'folder-2' = ...).
    A level that labels no leaf is left out, with a warning; UserError when none is left."""
    levels: dict[str, dict[str, str]] = {}
    keys = [label_key(name) for name in tree.names] if labels_csv is not None else tree.names
    if labels_csv is not None:
        require_text_input(Path(labels_csv), "label file")
        try:
            with open(labels_csv, newline="", encoding="utf-8-sig") as handle:
                rows = list(csv.reader(handle))
        except UnicodeDecodeError as error:
            raise UserError(
                f"{labels_csv} is not UTF-8 text (byte 0x{error.object[error.start]:02x} at "
                f"offset {error.start}); save it as UTF-8"
            ) from None
        except csv.Error as error:
            raise UserError(f"{labels_csv} is not a readable CSV ({error})") from None
        if len(rows) < 2 or len(rows[0]) < 2:
            raise UserError(f"{labels_csv} needs a header 'path,class[,superclass]' and rows")
        if label_key(rows[0][0]) in set(keys):
            raise UserError(
                f"{labels_csv}: the first row is an image's labels, not a header; add a "
                "first line 'path,class[,superclass]'"
            )
        if "" in rows[0][1:]:
            raise UserError(f"{labels_csv}: a label column of the header has no name")
        doubled = sorted({name for name in rows[0][1:] if rows[0][1:].count(name) > 1})
        if doubled:
            raise UserError(
                f"{labels_csv}: the header names the level {doubled[0]!r} twice; give each "
                "label column its own name"
            )
        for column, level in enumerate(rows[0][1:], start=1):
            pairs = [
                (label_key(r[0]), r[column]) for r in rows[1:] if len(r) > column and r[column]
            ]
            levels[level] = dict(pairs)
            conflicting = sorted({p for p, label in pairs if levels[level][p] != label})
            if conflicting:
                warn(
                    f"warning: {len(conflicting)} path(s) have conflicting {level!r} labels "
                    f"in {labels_csv} (e.g. {conflicting[0]!r}); the last row counts"
                )
    else:
        deepest = max(len(name.split("/")) for name in tree.names) - 1
        for depth in range(1, max(1, min(folder_depth or 1, deepest)) + 1):
            levels[f"folder-{depth}"] = {
                name: name.split("/")[-1 - depth]
                for name in tree.names
                if len(name.split("/")) > depth
            }
    if labels_csv is not None and not any(levels.values()):
        raise UserError(f"{labels_csv}: no row has a label after its path")
    codes: dict[str, np.ndarray] = {}
    unmatched = tree.n
    for level, mapping in levels.items():
        values = [mapping.get(key) for key in keys]
        known = sorted({v for v in values if v is not None})
        if known:
            index = {v: i for i, v in enumerate(known)}
            codes[level] = np.array([index[v] if v is not None else -1 for v in values])
            unmatched = min(unmatched, int(np.sum(codes[level] < 0)))
    if not codes and labels_csv is None:
        raise UserError("no leaf of the tree lies in a folder to take a label from")
    if not codes:
        raise UserError(
            "no label matches any leaf of the tree (paths must be relative to the image folder)"
        )
    for level in [level for level in levels if level not in codes]:
        warn(f"warning: label level {level!r} labels no leaf of the tree; not scored")
    return codes, unmatched


def evaluate_tree(tree: Tree, codes: dict[str, np.ndarray], latent: np.ndarray | None) -> dict:
    """Scores per label level: dendrogram purity; purity/NMI/ARI of the cut into k = number
    of classes; plus the Dasgupta cost under the latent similarity when the leaves'
    latents (n, D), in leaf order, are given and there are two leaves or more (a single
    leaf has no pair to weigh)."""
    from infohier_cli.evaluate.metrics import cut_scores, dasgupta_cost, dendrogram_purity

    report: dict = {"n_leaves": tree.n, "levels": {}}
    for level, labels in codes.items():
        k = len(np.unique(labels[labels >= 0]))
        labelled = labels >= 0
        flat = cut_scores(labels[labelled], tree.cut(min(k, tree.n))[labelled])
        report["levels"][level] = {
            "classes": k,
            "unlabelled": int((~labelled).sum()),
            "dendrogram_purity": dendrogram_purity(tree, labels),
            **{f"cut_{key}": value for key, value in flat.items()},
        }
    if latent is not None and tree.n >= 2:
        from infohier_cli.training.similarity import normalise, pair_similarity

        unit = normalise(latent)

        def similarity(i, j):
            return pair_similarity(unit, i, j)

        value, error = dasgupta_cost(tree, similarity)
        report["dasgupta_cost"] = {"value": value, "stderr": error}
    return report
