"""Does averaging each image's latent over several views of it make the tree purer?

usage: python benchmarks/view_average.py RUN_DIR=LABELLED_FOLDER [...] [--views 8]
       [--crop 0.6] [--tree single] [--pooled]

For each trained run, the latents of the folder's images are computed four ways with the
run's model (eval mode): the plain forward pass (what `infohier train` stores), the mean
over `--views` random views, the mean over the plain image and those views:

    z̄(x) = (f(x) + Σ_k f(v_k(x))) / (K + 1),   v_k ~ the run's own view pipeline
           (training/augment.py) with the crop's smallest area set to `--crop`

and the mean over the image's 8 flips and quarter turns, which no flip or turn of the
image changes (what `--latent-symmetry dihedral` stores, embed.py `pooled_forward`):

    z̄_D4(x) = (1/8) Σ_{g ∈ D4} f(g x)

With `--pooled`, f above is the run's own pooled forward f_G (its `--latent-symmetry`, what
`infohier train` stores), for the plain image and for every view alike, so "plain" is the
run's stored latent (session 41).

Each is scored on the tree named by `--tree` (a `--source` of `infohier tree`; session 4's
rows used `single`, the default tree then), class / superclass dendrogram purity. Views are
seeded (torch seed 0), so a row is reproducible on the CPU.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from pathlib import Path

import torch

from infohier_cli.data import ImageSpec, scan_folder
from infohier_cli.data.group import folder_samples
from infohier_cli.embed import pooled_forward
from infohier_cli.embeddings import Embeddings, load_embeddings
from infohier_cli.evaluate.metrics import dendrogram_purity
from infohier_cli.evaluate.score import read_label_levels
from infohier_cli.run import Checkpoint, RunDir, load_model
from infohier_cli.training.augment import build_view
from infohier_cli.trees.registry import BUILDERS

BATCH = 256


def latents(model, images: torch.Tensor, symmetry: str = "none") -> torch.Tensor:
    """(N, C, S, S) -> (N, D) latents pooled over `symmetry`'s mirror images, in batches."""
    batches = (images[i : i + BATCH] for i in range(0, len(images), BATCH))
    return torch.cat([pooled_forward(model, batch, symmetry)[0] for batch in batches])


def purities(emb: Embeddings, latent: torch.Tensor, folder: Path, tree_name: str) -> str:
    """'class / superclass' dendrogram purity of the `tree_name` tree of `latent`."""
    tree = BUILDERS[tree_name].build(dataclasses.replace(emb, latent=latent.numpy()))
    codes, _ = read_label_levels(tree, folder / "labels.csv", None)
    return " / ".join(f"{dendrogram_purity(tree, labels):.3f}" for labels in codes.values())


def scored_row(
    run: Path, folder: Path, emb: Embeddings, columns: list[torch.Tensor], tree_name: str
) -> str:
    """'| folder | run | score | ... |': `purities` of each latent in `columns`."""
    scores = [purities(emb, latent, folder, tree_name) for latent in columns]
    return f"| {folder.name} | {run.name} | " + " | ".join(scores) + " |"


def load_run(
    run: Path, folder: Path
) -> tuple[torch.nn.Module, Checkpoint, torch.Tensor, Embeddings]:
    """The run's model (eval mode), its checkpoint, the folder's images as the run reads
    them (N, C, S, S) and the run's stored embeddings, in the same order."""
    model, checkpoint = load_model(RunDir(run).checkpoint)  # in eval mode
    samples, _ = folder_samples(folder, checkpoint.config.group)
    spec = ImageSpec.of_run(checkpoint.config, checkpoint.in_channels)
    images, _ = scan_folder(
        folder, samples, spec, cache_dir=RunDir(run).cache, workers=0, progress=False,
        warn=lambda _message: None,
    )  # fmt: skip
    emb = load_embeddings(run / "embeddings.npz")
    if list(images.ids) != list(emb.ids):
        raise SystemExit(f"{run}: the folder's samples differ from the run's embeddings")
    return model, checkpoint, torch.stack([images[i] for i in range(len(images))]), emb


@torch.inference_mode()
def row(run: Path, folder: Path, views: int, crop: float, tree_name: str, pooled: bool) -> str:
    """One table row: the run's name and its four scores."""
    model, checkpoint, stack, emb = load_run(run, folder)
    config = checkpoint.config.replace(crop_scale_min=crop)
    view = build_view(config, checkpoint.in_channels)
    own = config.latent_symmetry if pooled else "none"
    torch.manual_seed(0)
    plain = latents(model, stack, own)
    viewed = torch.stack(
        [latents(model, torch.stack([view(x) for x in stack]), own) for _ in range(views)]
    )
    averages = [
        plain,
        viewed.mean(dim=0),
        (viewed.sum(dim=0) + plain) / (views + 1),
        latents(model, stack, "dihedral"),
    ]
    return scored_row(run, folder, emb, averages, tree_name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", nargs="+", help="RUN_DIR=LABELLED_FOLDER")
    parser.add_argument("--views", type=int, default=8)
    parser.add_argument("--crop", type=float, default=0.6)
    parser.add_argument("--tree", default="single", choices=sorted(BUILDERS))
    parser.add_argument(
        "--pooled", action="store_true", help="pool every forward by the run's latent symmetry"
    )
    args = parser.parse_args()
    columns = ["plain", "mean of views", "mean of views and plain", "dihedral orbit"]
    print_table(
        args.rows,
        args.tree,
        columns,
        lambda run, folder: row(run, folder, args.views, args.crop, args.tree, args.pooled),
    )


def print_table(
    specs: list[str], tree_name: str, columns: list[str], row_of: Callable[[Path, Path], str]
) -> None:
    """At one thread: the tree's name, the table's header and one row per RUN_DIR=FOLDER
    spec, `row_of(run, folder)` ('| folder | run | score | ... |')."""
    torch.set_num_threads(1)
    print(f"tree: {tree_name}")
    print("| folder | run | " + " | ".join(columns) + " |")
    print("|---|---|" + "---|" * len(columns))
    for spec in specs:
        run, folder = (Path(part) for part in spec.split("=", 1))
        print(row_of(run, folder), flush=True)


def tree_table_main(
    description: str, columns: list[str], row_of: Callable[[Path, Path, str], str]
) -> None:
    """The command line of a script that scores runs on one tree, `RUN_DIR=FOLDER ...
    [--tree diffusion]`: prints `print_table` with `row_of(run, folder, tree_name)`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("rows", nargs="+", help="RUN_DIR=LABELLED_FOLDER")
    parser.add_argument("--tree", default="diffusion", choices=sorted(BUILDERS))
    args = parser.parse_args()
    print_table(args.rows, args.tree, columns, lambda run, folder: row_of(run, folder, args.tree))


if __name__ == "__main__":
    main()
