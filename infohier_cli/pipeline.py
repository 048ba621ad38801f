"""What `embed`, `tree` and `export` do, as functions that scripts and tests call directly."""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from infohier_cli.atomic import atomic_open, open_output
from infohier_cli.errors import UserError
from infohier_cli.tree import Tree

LATENT_AUTO_MAX = 200_000  # `auto` builds the latent tree up to here, the disk tree above


def embed_folder(folder: Path, run_dir: Path, out: Path, fmt: str, *, device: str = "auto",
                 batch_size: int = 256, workers: int | None = None, with_latent: bool = False,
                 warn: Callable[[str], None] = print, progress: bool = True
                 ) -> tuple[int, list[tuple[str, str]]]:
    """Embed every readable image under `folder` with the run's model; write npz or csv.

    -> (number embedded, skipped (path, reason)). Under torchrun only rank 0 writes.
    """
    from infohier_cli.checkpoint import load_model
    from infohier_cli.data import ImageSpec, discover_images, scan_folder, write_skipped
    from infohier_cli.device import default_workers, pick_device
    from infohier_cli.distributed import DistEnv
    from infohier_cli.embed import Embeddings, embed_images, save_embeddings, write_csv

    env = DistEnv.from_environment()
    torch_device = pick_device(device)
    paths = discover_images(folder)
    model, config, state = load_model(Path(run_dir) / "checkpoint.pt")
    model.to(torch_device)
    spec = ImageSpec(config.image_size, int(state["in_channels"]), config.intensity)
    n_workers = default_workers(torch_device) if workers is None else workers
    say = warn if env.is_main else (lambda _m: None)
    env.start(torch_device)
    try:
        images, skipped = scan_folder(folder, paths, spec, workers=n_workers, warn=say,
                                      progress=progress and env.is_main)
        latent, disk = embed_images(model, images, torch_device, batch_size=batch_size,
                                    workers=n_workers, env=env, progress=progress)
    finally:
        env.stop()
    if env.is_main:
        result = Embeddings(list(images.paths), latent, disk)
        if fmt == "csv":
            write_csv(out, result, with_latent)
        else:
            save_embeddings(out, result)
        if str(out) != "-":
            write_skipped(Path(out).parent, skipped)
    return len(images), skipped


def build_tree(embeddings_file: Path, source: str = "auto") -> Tree:
    """Decode an embeddings file into a Tree: greedy hyperbolic decoding of the ball points
    ('disk'), Ward linkage on the latents ('latent', exact up to 15,000 images, anchored
    above: see latent_tree.py), or 'auto': latent up to LATENT_AUTO_MAX images, else disk."""
    from infohier_cli.decode import decode
    from infohier_cli.embed import load_embeddings
    from infohier_cli.latent_tree import latent_linkage

    emb = load_embeddings(embeddings_file, with_latent=False)
    if source == "auto":
        source = "latent" if len(emb.paths) <= LATENT_AUTO_MAX else "disk"
    if source == "latent":
        emb = load_embeddings(embeddings_file)
        return Tree(emb.paths, latent_linkage(emb.latent), leaf_points=emb.disk)
    decoded = decode(emb.disk)
    return Tree(emb.paths, decoded.linkage, leaf_points=emb.disk, node_points=decoded.points)


def write_tree(tree: Tree, out: Path | str, fmt: str, labels: str = "path") -> None:
    """Write Newick or JSON to `out` ('-' = stdout), atomically; labels path|stem|id.
    With 'id' leaves are L000001..., and `out`.ids.tsv maps each id to its path."""
    names = tree.names
    if labels == "stem":
        names = [Path(name).stem for name in tree.names]
    elif labels == "id":
        width = max(6, len(str(tree.n)))
        names = [f"L{i + 1:0{width}d}" for i in range(tree.n)]
        if str(out) != "-":
            with atomic_open(f"{out}.ids.tsv", "w", encoding="utf-8",
                             errors="surrogateescape") as handle:
                handle.write("id\tpath\n")
                handle.writelines(f"{i}\t{p}\n" for i, p in zip(names, tree.names, strict=True))
    text = tree.to_newick(names) if fmt == "newick" else Tree(
        names, tree.linkage, tree.leaf_points, tree.node_points).to_json()
    with open_output(out, encoding="utf-8", errors="surrogateescape") as handle:
        handle.write(text)


def read_tree(path: Path) -> Tree:
    """A tree from Newick or infohier JSON (JSON when the text starts with '{')."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no such tree file: {path}")
    text = path.read_text(encoding="utf-8", errors="surrogateescape")
    if not text.strip():
        raise UserError(f"{path} is empty")
    return Tree.from_json(text) if text.lstrip().startswith("{") else Tree.from_newick(text)


def attach_points(tree: Tree, embeddings_file: Path) -> Tree:
    """Leaf coordinates for a tree that has none, looked up by path in an embeddings file."""
    from infohier_cli.embed import load_embeddings

    if tree.leaf_points is not None:
        return tree
    emb = load_embeddings(embeddings_file, with_latent=False)
    row = {name: i for i, name in enumerate(emb.paths)}
    missing = [name for name in tree.names if name not in row]
    if missing:
        raise UserError(f"{len(missing)} leaves (e.g. {missing[0]!r}) are not in "
                        f"{embeddings_file}; pass --embeddings")
    return Tree(tree.names, tree.linkage, emb.disk[[row[n] for n in tree.names]])


def write_cuts(tree: Tree, ks: Sequence[int], out: Path | str | None) -> None:
    """CSV: path, then the cluster id of each leaf when the tree is cut into each k."""
    cuts = [tree.cut(k) for k in ks]
    with open_output(out, newline="", encoding="utf-8", errors="surrogateescape") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path"] + [f"k{k}" for k in ks])
        for i, name in enumerate(tree.names):
            writer.writerow([name] + [int(c[i]) for c in cuts])


def export_tree(tree_file: Path, out: Path | None, fmt: str | None, cuts: Sequence[int],
                plot: Path | None, embeddings_file: Path) -> None:
    """`infohier export`: convert, cut into flat clusters, and/or plot a tree."""
    tree = read_tree(tree_file)
    if fmt is None:
        suffix = Path(out).suffix.lower() if out is not None else ""
        fmt = "csv" if cuts or suffix == ".csv" else "json" if suffix == ".json" else "newick"
    if fmt == "csv" and not cuts:
        raise UserError("--format csv needs at least one --cut K")
    if out is not None:
        if fmt == "csv":
            write_cuts(tree, cuts, out)
        else:
            write_tree(tree, out, fmt)
    elif cuts and plot is None:
        write_cuts(tree, cuts, None)
    if plot is not None:
        from infohier_cli.plot import plot_disk

        plot_disk(attach_points(tree, embeddings_file), plot, cuts[0] if cuts else None)


def read_label_levels(tree: Tree, labels_csv: Path | None, folder_depth: int | None
                      ) -> tuple[dict[str, np.ndarray], int]:
    """Label levels for the tree's leaves -> ({level: (n,) int codes, −1 = none}, unmatched).

    From a CSV (path, class[, superclass, ...]: one level per column after the path), or
    from the folder names above each image (level 'folder-1' = parent, 'folder-2' = ...)."""
    levels: dict[str, dict[str, str]] = {}
    if labels_csv is not None:
        if not Path(labels_csv).is_file():
            raise UserError(f"no such label file: {labels_csv}")
        with open(labels_csv, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        if len(rows) < 2 or len(rows[0]) < 2:
            raise UserError(f"{labels_csv} needs a header 'path,class[,superclass]' and rows")
        for column, level in enumerate(rows[0][1:], start=1):
            levels[level] = {r[0]: r[column] for r in rows[1:] if len(r) > column and r[column]}
    else:
        for depth in range(1, (folder_depth or 1) + 1):
            levels[f"folder-{depth}"] = {
                name: name.split("/")[-1 - depth] for name in tree.names
                if len(name.split("/")) > depth}
    codes: dict[str, np.ndarray] = {}
    unmatched = tree.n
    for level, mapping in levels.items():
        values = [mapping.get(name) for name in tree.names]
        known = sorted({v for v in values if v is not None})
        index = {v: i for i, v in enumerate(known)}
        codes[level] = np.array([index[v] if v is not None else -1 for v in values])
        unmatched = min(unmatched, int(np.sum(codes[level] < 0)))
    if not codes or all(np.all(c < 0) for c in codes.values()):
        raise UserError("no label matches any leaf of the tree (paths must be relative to "
                        "the image folder, with '/')")
    return codes, unmatched


def evaluate_tree(tree: Tree, codes: dict[str, np.ndarray], embeddings_file: Path | None
                  ) -> dict:
    """Scores per label level: dendrogram purity; purity/NMI/ARI of the cut into k = number
    of classes; plus the Dasgupta cost under the latent similarity when latents are given."""
    from infohier_cli.metrics import cut_scores, dasgupta_cost, dendrogram_purity

    report: dict = {"n_leaves": tree.n, "levels": {}}
    for level, labels in codes.items():
        k = len(np.unique(labels[labels >= 0]))
        labelled = labels >= 0
        flat = cut_scores(labels[labelled], tree.cut(min(k, tree.n))[labelled])
        report["levels"][level] = {"classes": k, "unlabelled": int((~labelled).sum()),
                                   "dendrogram_purity": dendrogram_purity(tree, labels),
                                   **{f"cut_{key}": value for key, value in flat.items()}}
    if embeddings_file is not None and Path(embeddings_file).is_file():
        from infohier_cli.embed import load_embeddings
        from infohier_cli.latent_tree import normalise

        emb = load_embeddings(embeddings_file)
        row = {name: i for i, name in enumerate(emb.paths)}
        if all(name in row for name in tree.names):
            z = normalise(emb.latent[[row[name] for name in tree.names]])

            def similarity(i, j):
                return (1 + np.einsum("ij,ij->i", z[i], z[j])) / 2

            value, error = dasgupta_cost(tree, similarity)
            report["dasgupta_cost"] = {"value": value, "stderr": error}
    return report
