"""How often `export --cut auto` finds the true number of classes.

usage: python benchmarks/cut_auto.py FOLDER [FOLDER ...] [--run FOLDER=RUN_DIR ...]
       [--source auto|single|latent|disk ...] [--image-size S] [--no-baselines]

Each FOLDER holds labels.csv (path,class[,superclass]; used only to score), as built by
`python benchmarks/make_suite.py OUT` or shipped in sample_data/. For every folder the trees
scored are Ward trees on classical features (raw pixels, PCA-50 of the pixels) and, for each
`--run FOLDER=RUN_DIR` whose FOLDER matches (by path or by folder name), the run's tree
from each `--source` (default auto: the tree `infohier tree` gives; a source that resolves
to one already scored is skipped). For each tree both criteria of
`infohier_cli/trees/cut_auto.py` choose k: gap (from the tree alone) and silhouette (on the
features the tree was built from, or for a run the latents, as `export --cut auto
--auto-criterion silhouette --embeddings RUN/embeddings.npz` does). The run folders are
only read. A hit is k == the number of classes; k equal
to the number of superclasses is counted apart. Prints one markdown table and a summary.
Nothing is trained here.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
from scipy.cluster.hierarchy import linkage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import pixel_matrix  # noqa: E402

from infohier_cli.embeddings import load_embeddings  # noqa: E402
from infohier_cli.run import RunDir  # noqa: E402
from infohier_cli.trees.cut_auto import AUTO_CRITERIA, choose_k  # noqa: E402
from infohier_cli.trees.registry import build_tree, resolve_source, source_names  # noqa: E402
from infohier_cli.trees.tree import Tree  # noqa: E402


def label_counts(folder: Path, names: list[str]) -> tuple[int, int | None]:
    """(classes, superclasses or None) among the images in `names`."""
    present = set(names)
    classes, supers = set(), set()
    with open(folder / "labels.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["path"] in present:
                classes.add(row["class"])
                if row.get("superclass"):
                    supers.add(row["superclass"])
    return len(classes), (len(supers) or None)


def trees_for(
    folder: Path, runs: list[tuple[str, Path]], sources: list[str], size: int, baselines: bool
):
    """Yield (label, tree, features in leaf order) for one folder."""
    if baselines:
        names, pixels, _ = pixel_matrix(folder, size)
        centred = pixels - pixels.mean(axis=0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        pca = centred @ vt[:50].T
        yield "raw pixels + ward", Tree(names, linkage(pixels, "ward")), pixels
        yield "PCA-50 + ward", Tree(names, linkage(pca, "ward")), pca
    for key, run_dir in runs:
        if key not in (str(folder), folder.name):
            continue
        emb = load_embeddings(RunDir(run_dir).embeddings)
        row = {name: i for i, name in enumerate(emb.ids)}
        for source in dict.fromkeys(resolve_source(s, len(emb.ids)) for s in sources):
            tree = build_tree(RunDir(run_dir).embeddings, source)
            yield (
                f"run {Path(run_dir).name}: {source} tree",
                tree,
                emb.latent[[row[n] for n in tree.names]],
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--run", action="append", default=[], help="FOLDER=RUN_DIR")
    parser.add_argument(
        "--source",
        action="append",
        choices=source_names(),
        help="tree of each run (repeatable; default auto)",
    )
    parser.add_argument("--image-size", type=int, default=0, help="0 = as infohier's auto")
    parser.add_argument("--no-baselines", action="store_true", help="score only --run trees")
    args = parser.parse_args()
    runs = [(spec.split("=", 1)[0], Path(spec.split("=", 1)[1])) for spec in args.run]
    print("| folder | tree | classes | superclasses | " + " | ".join(AUTO_CRITERIA) + " |")
    print("|---|---|---|---|" + "---|" * len(AUTO_CRITERIA))
    hits = {c: [0, 0, 0] for c in AUTO_CRITERIA}  # class hits, superclass hits, trees
    for folder in args.folders:
        for label, tree, features in trees_for(
            folder, runs, args.source or ["auto"], args.image_size, not args.no_baselines
        ):
            classes, supers = label_counts(folder, tree.names)
            cells = []
            for criterion in AUTO_CRITERIA:
                k = choose_k(tree, criterion, features).k
                hits[criterion][0] += k == classes
                hits[criterion][1] += k == supers
                hits[criterion][2] += 1
                mark = " ✓" if k == classes else " (super)" if k == supers else ""
                cells.append(f"{k}{mark}")
            print(
                f"| {folder.name} | {label} | {classes} | {supers or '-'} | "
                + " | ".join(cells)
                + " |"
            )
    print()
    for criterion, (class_hits, super_hits, total) in hits.items():
        print(
            f"{criterion}: k = classes on {class_hits}/{total} trees, "
            f"k = superclasses on {super_hits}/{total}"
        )


if __name__ == "__main__":
    main()
