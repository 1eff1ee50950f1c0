"""A host's GPUs from nvidia-smi's two CSV queries: memory, the processes on each, foreign
ones marked; odd values and error lines do not break the reading."""

from __future__ import annotations

from backends.gpu_inventory import GpuInfo, parse_inventory, parse_inventory_output
from cockpit.core.placement import UNKNOWN_MB, Gpu, gpus_from

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


def test_a_process_on_a_gpu_no_cockpit_run_holds_makes_it_foreign() -> None:
    gpus = parse_inventory(GPUS, APPS)
    assert gpus_from(gpus, held={0}) == (
        Gpu(0, 81920, 1024, foreign=False),  # cockpit's run is on it
        Gpu(1, 81920, 40960, foreign=True),  # someone else's job
        Gpu(2, 0.0, 0.0, foreign=False),  # nothing on it
    )
    assert [gpu.index for gpu in gpus_from(gpus, held=(), only=[1, 2])] == [1, 2]
    # a configured GPU the host did not report is trusted, its memory unknown
    assert gpus_from(gpus, held=(), only=[7]) == (Gpu(7, UNKNOWN_MB),)


def test_the_inventory_query_with_load_and_its_output() -> None:
    output = (
        "0, GPU-aaaa, NVIDIA H100 80GB HBM3, 81559, 512, 97, 64, 612.41\n"
        "1, GPU-bbbb, NVIDIA H100 80GB HBM3, 81559, 512, [N/A], 40, [N/A]\n"
        "---apps---\nGPU-bbbb, 31337, 30000\n"
    )
    assert parse_inventory_output(output) == [
        GpuInfo(0, "GPU-aaaa", "NVIDIA H100 80GB HBM3", 81559, 512, (), 97, 64, 612.41),
        GpuInfo(1, "GPU-bbbb", "NVIDIA H100 80GB HBM3", 81559, 512, (31337,), None, 40, None),
    ]
    assert parse_inventory_output("no-nvidia-smi\n") == []  # no driver: no GPU, slots
