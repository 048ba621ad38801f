"""Device choice (`auto` takes CUDA when present, else the CPU) and what the device decides:
mixed precision, the memory format, where the views are made, the largest auto image size,
the data-loading processes.

The speed settings (`--amp`, `--channels-last`, `--batch-augment`) are `auto | on | off`:
auto means on for a CUDA device and off on the CPU, except `--amp`, which auto also takes on a
CPU where bfloat16 trains faster than float32 (`fast_bf16_cpu`). A CPU run is reproducible either
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
    raise UserError(f"--device must be {', '.join(DEVICE_CHOICES)} or cuda:N, not {name!r}")


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


AMX_PROBE, AVX512_BF16_PROBE = "_is_amx_tile_supported", "_is_avx512_bf16_supported"  # torch.cpu
CPU_INFO = "/proc/cpuinfo"


def cpu_vendor() -> str:
    """The CPU's vendor id as Linux reports it ('AuthenticAMD', 'GenuineIntel'); '' where
    /proc/cpuinfo is missing or does not say."""
    try:
        with open(CPU_INFO, encoding="ascii", errors="replace") as info:
            for line in info:
                if line.startswith("vendor_id"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def fast_bf16_cpu() -> bool:
    """Whether bfloat16 trains the encoder faster than float32 on this CPU: with AMX tiles,
    or with AVX512-BF16 on an AMD CPU. Measured (BENCHMARKS.md, "bfloat16 on the CPU" and
    "A second 2-core CPU"), `infohier train`'s loop on 2 cores, images/s in bfloat16
    against float32: an AMD EPYC with AVX512-BF16, 147 against 83 (1.78x); an Intel Xeon
    with AVX512-BF16 but no AMX, whose oneDNN bfloat16 kernels (avx512_core_bf16) ran
    slower than its float32 ones, 67 against 81 (0.83x). AMX (Intel's matrix units) was not
    measured here. The probes are torch.cpu's; a torch without them counts as no."""

    def probe(name: str) -> bool:
        return bool(getattr(torch.cpu, name, lambda: False)())

    return probe(AMX_PROBE) or (probe(AVX512_BF16_PROBE) and cpu_vendor() == "AuthenticAMD")


def amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of `--amp mode` on `device`, None for float32.

    bfloat16 only: it keeps float32's exponent range, so no loss scaling is needed. auto
    takes it on a CUDA device that supports it (compute capability 8.0 and later) and on a
    CPU where it trains faster than float32 (`fast_bf16_cpu`); on asks for it anywhere
    (emulated on CPUs without bfloat16 instructions) and refuses a CUDA device without it.
    """
    if mode == "off" or (mode == "auto" and device.type == "cpu" and not fast_bf16_cpu()):
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
