"""The speed settings, checked on the CPU: what auto/on/off resolve to, bfloat16 autocast
(finite losses close to float32's, a float32 ball), channels-last (the same outputs as the
contiguous layout)."""

from __future__ import annotations

import copy

import pytest
import torch

from infohier_cli.config import TrainConfig
from infohier_cli.errors import UserError
from infohier_cli.model.network import InfoHierModel
from infohier_cli.runtime.device import (
    AMX_PROBE,
    AVX512_BF16_PROBE,
    amp_dtype,
    cpu_vendor,
    fast_bf16_cpu,
    loader_workers,
    memory_format,
    switched_on,
)
from infohier_cli.runtime.distributed import DistEnv
from infohier_cli.training.fit import step_losses

CPU, CUDA = torch.device("cpu"), torch.device("cuda")
CONFIG = TrainConfig(image_size=16, width=8, triplets_per_image=4)


def test_auto_means_on_for_cuda_and_amp_also_for_a_fast_bf16_cpu(monkeypatch, tmp_path):
    assert [switched_on(mode, CPU) for mode in ("auto", "on", "off")] == [False, True, False]
    assert [switched_on(mode, CUDA) for mode in ("auto", "on", "off")] == [True, True, False]
    cpu_info = tmp_path / "cpuinfo"
    monkeypatch.setattr("infohier_cli.runtime.device.CPU_INFO", str(cpu_info))

    def cpu(vendor: str, amx: bool, avx512_bf16: bool) -> torch.dtype | None:
        cpu_info.write_text(f"processor\t: 0\nvendor_id\t: {vendor}\nflags\t: fpu\n")
        monkeypatch.setattr(torch.cpu, AMX_PROBE, lambda: amx, raising=False)
        monkeypatch.setattr(torch.cpu, AVX512_BF16_PROBE, lambda: avx512_bf16, raising=False)
        assert fast_bf16_cpu() == (amp_dtype("auto", CPU) == torch.bfloat16)
        assert amp_dtype("on", CPU) == torch.bfloat16
        return amp_dtype("auto", CPU)

    assert cpu("AuthenticAMD", amx=False, avx512_bf16=False) is None
    assert cpu("AuthenticAMD", amx=False, avx512_bf16=True) == torch.bfloat16
    assert cpu("GenuineIntel", amx=False, avx512_bf16=True) is None  # slower than float32
    assert cpu("GenuineIntel", amx=True, avx512_bf16=True) == torch.bfloat16
    cpu_info.unlink()  # no /proc/cpuinfo: the vendor is unknown
    monkeypatch.setattr(torch.cpu, AMX_PROBE, lambda: False, raising=False)
    assert cpu_vendor() == "" and not fast_bf16_cpu()
    assert amp_dtype("off", CPU) is None
    assert memory_format("auto", CPU) == torch.contiguous_format
    assert memory_format("auto", CUDA) == torch.channels_last
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert amp_dtype("auto", CUDA) == torch.bfloat16 and amp_dtype("off", CUDA) is None
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert amp_dtype("auto", CUDA) is None  # an older GPU: float32
    with pytest.raises(UserError, match="--amp on"):
        amp_dtype("on", CUDA)


def test_workers_default_by_device_and_are_capped_at_the_cpus_with_a_note(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0, 1}, raising=False)
    said: list[str] = []
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert (loader_workers(cpu, None, said.append), loader_workers(cuda, None, said.append)) == (
        0,
        2,
    )
    assert loader_workers(cpu, 2, said.append) == 2 and not said
    assert loader_workers(cpu, 64, said.append) == 2
    assert said == ["note: --workers 64 is more than the 2 CPUs here; using 2"]


def test_bad_values_are_refused_naming_the_option():
    with pytest.raises(UserError, match="--amp"):
        TrainConfig(amp="bf16")
    with pytest.raises(UserError, match="--batch-augment"):
        TrainConfig(batch_augment="yes")


def losses_and_grad(model, views, amp, layout=torch.contiguous_format):
    batch = tuple(view.contiguous(memory_format=layout) for view in views)
    generator = torch.Generator().manual_seed(2)
    losses = step_losses(model, batch, CONFIG, True, DistEnv(), generator, amp)
    model.zero_grad(set_to_none=True)
    losses[0].backward()
    return [x.item() for x in losses], model.encoder.backbone.conv1.weight.grad.clone()


def views_of(channels: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return tuple(torch.rand(2, 16, channels, 16, 16, generator=generator))


def test_bfloat16_autocast_gives_finite_losses_close_to_float32():
    torch.manual_seed(0)
    model = InfoHierModel(CONFIG, 1).train()
    twin = copy.deepcopy(model)
    views = views_of()
    exact, exact_grad = losses_and_grad(model, views, None)
    mixed, mixed_grad = losses_and_grad(twin, views, torch.bfloat16)
    assert all(torch.isfinite(torch.tensor(mixed)))
    assert mixed == pytest.approx(exact, rel=0.05, abs=0.02)
    assert torch.isfinite(mixed_grad).all()
    cosine = torch.nn.functional.cosine_similarity(exact_grad.flatten(), mixed_grad.flatten(), 0)
    assert cosine > 0.9
    with torch.autocast("cpu", dtype=torch.bfloat16):
        z, p, e = twin(torch.cat(views))
    assert z.dtype == p.dtype == e.dtype == torch.float32  # the ball stays float32
    assert twin.encoder.backbone.conv1(torch.cat(views)).dtype == torch.float32  # no leak


def test_channels_last_gives_the_contiguous_outputs():
    torch.manual_seed(0)
    model = InfoHierModel(CONFIG, 3).train()
    twin = copy.deepcopy(model).to(memory_format=torch.channels_last)
    assert twin.encoder.backbone.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    views = views_of(3)
    exact, exact_grad = losses_and_grad(model, views, None)
    last, last_grad = losses_and_grad(twin, views, None, torch.channels_last)
    assert last == pytest.approx(exact, rel=1e-4, abs=1e-5)
    scale = float(exact_grad.abs().max())  # summation order differs between layouts
    torch.testing.assert_close(last_grad, exact_grad, rtol=1e-2, atol=1e-3 * scale)
    model.eval(), twin.eval()
    images = torch.cat(views)
    for a, b in zip(
        model(images), twin(images.contiguous(memory_format=torch.channels_last)), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
