"""PyTorch DDP plumbing: read torchrun's environment, start/stop the process group, gather.

A plain `infohier train` is a world of one: every helper is then a no-op, so the training
loop has a single code path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistEnv:
    """This process's place in the job: rank, local rank (GPU index) and world size."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_environment(cls) -> DistEnv:
        """Read RANK / LOCAL_RANK / WORLD_SIZE as set by torchrun (absent: a world of one)."""
        if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
            return cls()
        return cls(
            int(os.environ["RANK"]),
            int(os.environ.get("LOCAL_RANK", 0)),
            int(os.environ["WORLD_SIZE"]),
        )

    def start(self, device: torch.device) -> None:
        """Join the process group: nccl on CUDA, gloo on the CPU."""
        if self.active and not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")

    def stop(self, finished: bool = False) -> None:
        """Leave the process group. `finished`: this rank's work is done, and so should
        every other rank's be, so all first meet at a barrier: no rank exits while another
        still works (torchrun stops the others when one fails). Exiting can still abort a
        rank after its work (SIGABRT, "terminate called without an active exception"):
        one of gloo's worker threads releasing the last collective's tensors needs the GIL
        during interpreter shutdown (pytorch/pytorch#179291); the barrier made that rarer
        in a loop of the two-process test (1 run in 131 against 7 in 203), not impossible.
        Never after a failure: a rank that failed would not come to the barrier, and the
        others would wait for gloo's timeout."""
        if self.active and dist.is_initialized():
            if finished:
                dist.barrier()
            dist.destroy_process_group()


def from_main(value: int | None, env: DistEnv) -> int | None:
    """Rank 0's `value` on every rank: a decision all ranks must share, such as the epochs
    a time budget allows (each rank's own clock would disagree)."""
    if not env.active:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_batch(local: torch.Tensor, env: DistEnv) -> torch.Tensor:
    """Concatenate every rank's (b, ...) tensor into the global (W·b, ...) batch, in the
    order a single process would have seen it (global row t·W + r is rank r's row t).

    Gradients flow back to each rank's own rows (torch.distributed.nn.functional.all_gather).
    """
    if not env.active:
        return local
    from torch.distributed.nn.functional import all_gather

    stacked = torch.stack(all_gather(local), dim=1)  # (b, W, ...)
    return stacked.reshape(-1, *local.shape[1:])


def shard_range(n: int, env: DistEnv) -> range:
    """The contiguous block of [0, n) that this rank handles."""
    per_rank = -(-n // env.world_size)
    return range(min(n, env.rank * per_rank), min(n, (env.rank + 1) * per_rank))


def gather_rows(local: torch.Tensor, n: int, env: DistEnv) -> torch.Tensor:
    """Reassemble the (n, ...) array whose rows `shard_range` split across ranks."""
    if not env.active:
        return local
    per_rank = -(-n // env.world_size)
    padded = local.new_zeros(per_rank, *local.shape[1:])
    padded[: local.shape[0]] = local
    pieces = [torch.empty_like(padded) for _ in range(env.world_size)]
    dist.all_gather(pieces, padded.contiguous())
    return torch.cat(pieces)[:n]
