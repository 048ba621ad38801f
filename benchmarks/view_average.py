"""Does averaging each image's latent over random views make the default tree purer?

usage: python benchmarks/view_average.py RUN_DIR=LABELLED_FOLDER [...] [--views 8] [--crop 0.6]

For each trained run, the latents of the folder's images are computed three ways with the
run's model (eval mode): the plain forward pass (what `infohier train` stores), the mean
over `--views` random views, and the mean over the plain image and those views:

    z̄(x) = (f(x) + Σ_k f(v_k(x))) / (K + 1),   v_k ~ the run's own view pipeline
           (training/augment.py) with the crop's smallest area set to `--crop`

and each is scored on the tree `infohier tree` makes by default up to 10,000 images
(single linkage on the latents), class / superclass dendrogram purity. Views are seeded
(torch seed 0), so a row is reproducible on the CPU.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import torch

from infohier_cli.data import ImageSpec, scan_folder
from infohier_cli.data.group import folder_samples
from infohier_cli.embeddings import Embeddings, load_embeddings
from infohier_cli.evaluate.metrics import dendrogram_purity
from infohier_cli.evaluate.score import read_label_levels
from infohier_cli.run import RunDir, load_model
from infohier_cli.training.augment import build_view
from infohier_cli.trees.registry import BUILDERS

BATCH = 256


def latents(model, images: torch.Tensor) -> torch.Tensor:
    """(N, C, S, S) -> (N, D) latents, in batches."""
    return torch.cat([model(images[i : i + BATCH])[0] for i in range(0, len(images), BATCH)])


def purities(emb: Embeddings, latent: torch.Tensor, folder: Path) -> str:
    """'class / superclass' dendrogram purity of single linkage on `latent`."""
    tree = BUILDERS["single"].build(dataclasses.replace(emb, latent=latent.numpy()))
    codes, _ = read_label_levels(tree, folder / "labels.csv", None)
    return " / ".join(f"{dendrogram_purity(tree, labels):.3f}" for labels in codes.values())


@torch.inference_mode()
def row(run: Path, folder: Path, views: int, crop: float) -> str:
    """One table row: the run's name and its three scores."""
    model, checkpoint = load_model(RunDir(run).checkpoint)
    model.eval()
    config = checkpoint.config.replace(crop_scale_min=crop)
    samples, _ = folder_samples(folder, config.group)
    spec = ImageSpec.of_run(config, checkpoint.in_channels)
    images, _ = scan_folder(
        folder, samples, spec, cache_dir=RunDir(run).cache, workers=0, progress=False,
        warn=lambda _message: None,
    )  # fmt: skip
    emb = load_embeddings(run / "embeddings.npz")
    if list(images.ids) != list(emb.ids):
        raise SystemExit(f"{run}: the folder's samples differ from the run's embeddings")
    stack = torch.stack([images[i] for i in range(len(images))])
    view = build_view(config, checkpoint.in_channels)
    torch.manual_seed(0)
    plain = latents(model, stack)
    viewed = torch.stack(
        [latents(model, torch.stack([view(x) for x in stack])) for _ in range(views)]
    )
    scores = [
        purities(emb, plain, folder),
        purities(emb, viewed.mean(dim=0), folder),
        purities(emb, (viewed.sum(dim=0) + plain) / (views + 1), folder),
    ]
    return f"| {folder.name} | {run.name} | " + " | ".join(scores) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", nargs="+", help="RUN_DIR=LABELLED_FOLDER")
    parser.add_argument("--views", type=int, default=8)
    parser.add_argument("--crop", type=float, default=0.6)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| folder | run | plain | mean of views | mean of views and plain |")
    print("|---|---|---|---|---|")
    for spec in args.rows:
        run, folder = (Path(part) for part in spec.split("=", 1))
        print(row(run, folder, args.views, args.crop), flush=True)


if __name__ == "__main__":
    main()
