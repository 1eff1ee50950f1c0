"""A host's GPUs from nvidia-smi's two CSV queries: memory, the processes on each, foreign
ones marked; odd values and error lines do not break the reading."""

from __future__ import annotations

from backends.gpu_inventory import GpuInfo, parse_inventory
from cockpit.core.placement import Gpu, gpus_from

GPUS = """0, GPU-aaaa, NVIDIA A100-SXM4-80GB, 81920, 1024
1, GPU-bbbb, NVIDIA A100-SXM4-80GB, 81920, 40960
2, GPU-cccc, NVIDIA A100-SXM4-80GB, [N/A], [N/A]
NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver
"""
APPS = """GPU-bbbb, 4242, 39000
GPU-bbbb, 777, 900
GPU-aaaa, 5151, 1000
No running processes found
"""


def test_gpus_and_their_processes_are_read() -> None:
    assert parse_inventory(GPUS, APPS) == [
        GpuInfo(0, "GPU-aaaa", "NVIDIA A100-SXM4-80GB", 81920, 1024, (5151,)),
        GpuInfo(1, "GPU-bbbb", "NVIDIA A100-SXM4-80GB", 81920, 40960, (4242, 777)),
        GpuInfo(2, "GPU-cccc", "NVIDIA A100-SXM4-80GB", 0.0, 0.0, ()),
    ]
    assert parse_inventory("", "") == []


def test_a_process_cockpit_does_not_know_makes_its_gpu_foreign() -> None:
    gpus = parse_inventory(GPUS, APPS)
    assert gpus_from(gpus, ours={5151, 4242}) == (
        Gpu(0, 81920, 1024, foreign=False),
        Gpu(1, 81920, 40960, foreign=True),  # 777 is someone else's
        Gpu(2, 0.0, 0.0, foreign=False),
    )
    assert [gpu.index for gpu in gpus_from(gpus, ours=(), only=[1, 2])] == [1, 2]
