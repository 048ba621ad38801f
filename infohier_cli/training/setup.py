"""What the fit loop works on: the model, its optimisers and schedules, restored from a
checkpoint when resuming (or the encoder started from `--init-from`), and wrapped for
DistributedDataParallel under torchrun.

Optimisers: AdamW for the Euclidean parameters (encoder at lr·encoder_lr_scale, the head's
MLP at lr), geoopt's RiemannianAdam for the head's centre on the ball; cosine schedules
over `config.epochs` (a resumed run with more epochs stretches them to the new total).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from infohier_cli.config import TrainConfig
from infohier_cli.errors import UserError
from infohier_cli.model.network import InfoHierModel
from infohier_cli.run import Checkpoint, load_weights
from infohier_cli.runtime.device import amp_dtype, memory_format
from infohier_cli.runtime.distributed import DistEnv
from infohier_cli.training.init_from import EncoderStart, load_encoder

OPTIMISER_KEYS = ("optimiser", "riemannian_optimiser")
SCHEDULE_KEYS = ("schedule", "riemannian_schedule")


@dataclass
class Learner:
    """The model being trained (`model`; `network` is what the loop calls: the model, or
    its DDP wrapper), its optimisers and schedules, the config and where it runs, with the
    autocast dtype (`amp`, None = float32) and the memory format of its inputs."""

    model: InfoHierModel
    network: torch.nn.Module
    optimisers: list[torch.optim.Optimizer]
    schedules: list[torch.optim.lr_scheduler.LRScheduler]
    config: TrainConfig
    env: DistEnv
    device: torch.device
    amp: torch.dtype | None = None
    memory_format: torch.memory_format = torch.contiguous_format

    def replan(self, epochs: int, done: int) -> None:
        """Train for `epochs` in all, `done` of them finished: the config and the cosine
        schedules' length follow. An automatic warm-up (a sixth of the epochs) follows the
        new plan until the hierarchical loss has started; from then on it stays fixed, so
        that a longer plan never switches the loss off again."""
        config = self.config
        if config.warmup_epochs < 0 and done >= config.warmup:
            config = config.replace(warmup_epochs=config.warmup)
        self.config = config.replace(epochs=epochs)
        for schedule in self.schedules:
            schedule.T_max = epochs

    def optimiser_states(self) -> dict:
        """The optimiser and schedule state dicts, keyed as in the checkpoint."""
        return {
            **{k: o.state_dict() for k, o in zip(OPTIMISER_KEYS, self.optimisers, strict=True)},
            **{k: s.state_dict() for k, s in zip(SCHEDULE_KEYS, self.schedules, strict=True)},
        }


def optimisers_for(model: InfoHierModel, config: TrainConfig):
    """AdamW on Euclidean parameters, RiemannianAdam on the ball's, cosine schedules."""
    import geoopt

    optimiser = torch.optim.AdamW(
        [
            {"params": model.encoder.parameters(), "lr": config.lr * config.encoder_lr_scale},
            {"params": model.head.net.parameters(), "lr": config.lr},
        ],
        weight_decay=config.weight_decay,
    )
    riemannian = geoopt.optim.RiemannianAdam([model.head.centre], lr=config.lr)
    schedules = [
        torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=config.epochs)
        for o in (optimiser, riemannian)
    ]
    return [optimiser, riemannian], schedules


def build_learner(
    config: TrainConfig,
    channels: int,
    device: torch.device,
    env: DistEnv,
    resumed: Checkpoint | None = None,
    sync_bn: bool = False,
    start: EncoderStart | None = None,
) -> Learner:
    """A fresh (seeded) model and optimisers, or those of `resumed`, on `device`; a fresh
    model's encoder starts from `start` (`--init-from`) when given."""
    amp, layout = amp_dtype(config.amp, device), memory_format(config.channels_last, device)
    torch.manual_seed(config.seed)
    model = InfoHierModel(config, channels)
    if resumed:
        load_weights(model, resumed, "being resumed")
    elif start:
        load_encoder(model.encoder, start)
    model.to(device, memory_format=layout)  # channels_last with --channels-last
    optimisers, schedules = optimisers_for(model, config)
    if resumed:
        for optimiser, key in zip(optimisers, OPTIMISER_KEYS, strict=True):
            optimiser.load_state_dict(resumed.optimisers[key])
        for state in optimisers[1].state.values():
            # geoopt counts steps in Python ints; a tensor step (as loading may give) would
            # compute Adam's bias correction in float32 and end a resumed run a few ulps
            # away from a straight one.
            if torch.is_tensor(state.get("step")):
                state["step"] = int(state["step"].item())
        for schedule, key in zip(schedules, SCHEDULE_KEYS, strict=True):
            schedule.load_state_dict(resumed.optimisers[key])
            schedule.T_max = config.epochs
    network: torch.nn.Module = model
    if env.active:
        if sync_bn:
            if device.type != "cuda":
                raise UserError("--sync-bn needs CUDA devices (SyncBatchNorm is GPU-only)")
            network = torch.nn.SyncBatchNorm.convert_sync_batchnorm(network)
        network = torch.nn.parallel.DistributedDataParallel(
            network,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=True,
        )
    return Learner(model, network, optimisers, schedules, config, env, device, amp, layout)
