"""Training: losses (`losses`), the latent similarity (`similarity`), the SSL views
(`augment`), optimisers and schedules (`setup`), the epoch loop (`fit`), and the run
around it: folder, checkpoints, log (`train`)."""
