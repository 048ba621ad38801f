"""How far a run's latent similarity agrees with the images' LBP-histogram similarity.

usage: python benchmarks/latent_agreement.py FOLDER RUN_DIR [RUN_DIR ...]

For every pair i < j of the folder's images: the latent similarity w_ij (the centred
cosine the hierarchical loss and the trees use, training/similarity.py) and the same
similarity of quality.py's LBP rows, computed at the run's own image size and fit.
Printed: Spearman's ρ between the two over all n(n−1)/2 pairs, per run. A run
trained to agree with LBP (session 23's experiment, BENCHMARKS.md) has a larger ρ than
one that was not. Needs the `bench` extra (scikit-image).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from quality import lbp_matrix, pixel_matrix
from scipy.stats import spearmanr

from infohier_cli.embeddings import load_embeddings
from infohier_cli.run import config_of, load_checkpoint
from infohier_cli.training.similarity import normalise, pair_similarity


def all_pairs(rows: np.ndarray) -> np.ndarray:
    """(n, D) rows -> (n(n−1)/2,) w_ij of the pairs i < j (similarity.pair_similarity)."""
    return pair_similarity(normalise(rows), *np.triu_indices(len(rows), 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("runs", type=Path, nargs="+")
    args = parser.parse_args()
    lbp_by_spec: dict[tuple[int, str], tuple[list[str], np.ndarray]] = {}
    for run in args.runs:
        config = config_of(load_checkpoint(run / "checkpoint.pt"))
        key = (config.image_size, config.fit)
        if key not in lbp_by_spec:
            paths, pixels, spec = pixel_matrix(args.folder, *key)
            lbp = all_pairs(lbp_matrix(pixels, spec.channels, spec.size))
            lbp_by_spec[key] = paths, lbp
        paths, lbp = lbp_by_spec[key]
        emb = load_embeddings(run / "embeddings.npz")
        row = {sample: i for i, sample in enumerate(emb.ids)}
        rho = spearmanr(all_pairs(emb.latent[[row[p] for p in paths]]), lbp).statistic
        print(f"{run}: Spearman rho(latent cosine, LBP cosine) = {rho:.3f} ({len(paths)} images)")


if __name__ == "__main__":
    main()
