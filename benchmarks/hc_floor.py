"""How far a trained ball is from the floor of its own hierarchical loss.

usage: python benchmarks/hc_floor.py RUN_DIR [RUN_DIR ...] [--knn K] [--batches 20]

For random batches of 64 images of a run's embeddings file, with the similarity w the
training used (the latents' centred cosine, or with `--knn K` their k-nearest-neighbour
graph), the Dasgupta triplet loss (training/losses.py, τ = the run's tau_hc) is compared
with two references computed from w alone, per triplet (w_ij, w_ik, w_jk):

    floor  = Σ w − max w    (the pair with the largest w merged first: the best any tree does)
    random = Σ w − mean w   (every pair equally likely to merge first: an untrained ball)

`gap closed` = (random − loss) / (random − floor): 1 means the ball already orders every
triplet as w does, so the loss has nothing left to send back to the encoder.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from infohier_cli.embeddings import load_embeddings
from infohier_cli.run import config_of, load_checkpoint
from infohier_cli.training.losses import dasgupta_triplet_loss, latent_similarity, sample_triplets

BATCH = 64


def floor_row(run: Path, knn: int, batches: int) -> dict[str, float]:
    """Mean loss, floor and random reference over `batches` random batches of one run."""
    emb = load_embeddings(run / "embeddings.npz")
    config = config_of(load_checkpoint(run / "checkpoint.pt"))
    latent = torch.as_tensor(emb.latent, dtype=torch.float32)
    ball = torch.as_tensor(emb.disk, dtype=torch.float32)
    generator = torch.Generator().manual_seed(0)
    totals = torch.zeros(3)
    for _ in range(batches):
        rows = torch.randperm(len(latent), generator=generator)[:BATCH]
        w = latent_similarity(latent[rows], center=config.center_similarity, knn=knn)
        triplets = sample_triplets(
            len(rows), config.triplets_per_image * len(rows), generator=generator
        )
        i, j, k = triplets.unbind(1)
        pairs = torch.stack([w[i, j], w[i, k], w[j, k]], dim=1)  # (T, 3)
        loss = dasgupta_triplet_loss(ball[rows], w, triplets, config.tau_hc)
        floor = (pairs.sum(1) - pairs.max(1).values).mean()
        random = (pairs.sum(1) - pairs.mean(1)).mean()
        totals += torch.stack([loss, floor, random])
    loss, floor, random = (totals / batches).tolist()
    return {
        "loss": loss,
        "floor": floor,
        "random": random,
        "closed": (random - loss) / max(random - floor, 1e-12),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--knn", type=int, default=0, help="0 = cosine weights")
    parser.add_argument("--batches", type=int, default=20)
    args = parser.parse_args()
    print("| run | HC loss | floor | random | gap closed |")
    print("|---|---|---|---|---|")
    for run in args.runs:
        row = floor_row(run, args.knn, args.batches)
        print(
            f"| {run.name} | {row['loss']:.4f} | {row['floor']:.4f} | {row['random']:.4f} "
            f"| {row['closed']:.2f} |"
        )


if __name__ == "__main__":
    main()
