"""Device choice (`auto` takes CUDA when present, else the CPU) and what the device decides:
mixed precision, the memory format, where the views are made, the largest auto image size,
the data-loading processes.

The speed settings (`--amp`, `--channels-last`, `--batch-augment`) are `auto | on | off`:
auto means on for a CUDA device and off on the CPU, except `--amp`, which auto also takes on a
CPU that computes bfloat16 in hardware (`native_bf16_cpu`). A CPU run is reproducible either
way: the same seed on the same machine gives the same run.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator

import torch

from infohier_cli.errors import UserError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def pick_device(name: str) -> torch.device:
    """torch.device for 'auto' | 'cpu' | 'cuda' (or 'cuda:N'); UserError if unavailable."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError("--device cuda asked for, but no CUDA device is available")
        return torch.device(name)
    raise UserError(f"--device must be one of {DEVICE_CHOICES}, not {name!r}")


def to_device(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A CPU tensor copied to `device` without the host waiting for the device: on CUDA
    through pinned memory, since a copy from pageable memory may wait for the GPU's queue
    (a sync in every training step, for a few uniforms or triplet indices)."""
    if device.type == "cuda":
        x = x.pin_memory()
    return x.to(device, non_blocking=True)


def loader_workers(device: torch.device, requested: int | None, say: Callable[[str], None]) -> int:
    """Data-loading processes: `requested` (`--workers`), at most one per CPU this process
    may run on (more only contend, and torch warns of them; `say` is told of the cap), or
    by default none on the CPU (they would steal the cores that compute) and up to 8 on
    CUDA."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpus = cpus or 1
    if requested is None:
        return 0 if device.type == "cpu" else min(8, cpus)
    if requested > cpus:
        say(f"note: --workers {requested} is more than the {cpus} CPUs here; using {cpus}")
        return cpus
    return requested


def switched_on(mode: str, device: torch.device) -> bool:
    """An `auto | on | off` setting resolved for `device` (auto = on for CUDA only)."""
    return mode == "on" or (mode == "auto" and device.type == "cuda")


BF16_CPU_PROBES = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # in torch.cpu


def native_bf16_cpu() -> bool:
    """Whether this CPU has bfloat16 instructions (AVX512-BF16 or AMX). On such a CPU (an
    AMD EPYC with AVX512-BF16, 2 cores) the 32-px encoder's forward + backward of a batch
    took 362 ms in bfloat16 against 662 ms in float32, and training ran 1.78x the images/s
    (BENCHMARKS.md, "bfloat16 on the CPU"); elsewhere oneDNN emulates bfloat16. The probes
    are torch.cpu's; a torch without them counts as no."""
    return any(getattr(torch.cpu, probe, lambda: False)() for probe in BF16_CPU_PROBES)


def amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of `--amp mode` on `device`, None for float32.

    bfloat16 only: it keeps float32's exponent range, so no loss scaling is needed. auto
    takes it on a CUDA device that supports it (compute capability 8.0 and later) and on a
    CPU with bfloat16 instructions (`native_bf16_cpu`); on asks for it anywhere (emulated
    on other CPUs) and refuses a CUDA device without it.
    """
    if mode == "off" or (mode == "auto" and device.type == "cpu" and not native_bf16_cpu()):
        return None
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        if mode == "on":
            raise UserError("--amp on needs bfloat16, which this CUDA device does not support")
        return None
    return torch.bfloat16


def autocast(dtype: torch.dtype | None, device: torch.device) -> contextlib.AbstractContextManager:
    """torch.autocast to `dtype` on `device`'s type, or nothing when `dtype` is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def memory_format(mode: str, device: torch.device) -> torch.memory_format:
    """channels_last for `--channels-last` on (auto: on CUDA), else contiguous."""
    return torch.channels_last if switched_on(mode, device) else torch.contiguous_format


def auto_size_max(device: torch.device) -> int:
    """The largest side `--image-size 0` picks: a GPU trains on larger images in the time
    the CPU needs for 32 px (64 px keeps the small-image stem: model/encoder.py)."""
    from infohier_cli.data.read import AUTO_SIZE_MAX, AUTO_SIZE_MAX_CUDA

    return AUTO_SIZE_MAX_CUDA if device.type == "cuda" else AUTO_SIZE_MAX


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run torch's CPU ops on one thread inside the block (the count is restored after).

    For many tiny ops: spread over threads, each waits for the pool to wake. With 2 threads
    on the 2-core machine, one batch's per-image views took 0.5 s instead of 0.04 s and the
    optimiser steps 1 s instead of 0.013 s, against ~0.7-1.2 s for the network's forward and
    backward (BENCHMARKS.md). Element-wise results do not depend on the thread count.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
