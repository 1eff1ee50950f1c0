"""A host's GPUs for placement (issue 20): what `nvidia-smi` says of each GPU and of the
processes on it (`placement.gpus_from` then marks a GPU with a process cockpit does not know
foreign: another user's job is respected).

The two queries, run over SSH in one round trip (or the same facts from NVML locally):
`nvidia-smi --query-gpu=index,uuid,name,memory.total,memory.used,utilization.gpu,temperature.gpu,
power.draw --format=csv,noheader,nounits` and `nvidia-smi --query-compute-apps=gpu_uuid,pid,
used_memory --format=csv,noheader,nounits`. Pure: parsing only, table-tested.
"""

from __future__ import annotations

from dataclasses import dataclass

GPU_FIELDS = "index,uuid,name,memory.total,memory.used,utilization.gpu,temperature.gpu,power.draw"
APP_FIELDS = "gpu_uuid,pid,used_memory"


@dataclass(frozen=True)
class GpuInfo:
    index: int
    uuid: str
    name: str
    memory_total_mb: float
    memory_used_mb: float
    pids: tuple[int, ...] = ()
    """Processes computing on it."""
    utilization: float | None = None
    """Percent, when the driver says."""
    temperature: float | None = None
    """Degrees C, when the driver says."""
    power: float | None = None
    """Watts, when the driver says."""


def _number(text: str) -> float | None:
    try:
        return float(text.strip())
    except ValueError:  # "[N/A]", "[Not Supported]"
        return None


def parse_inventory(gpus_csv: str, apps_csv: str) -> list[GpuInfo]:
    """The GPUs of one host, each with the pids computing on it; lines that are not rows (an
    error, a blank line) are skipped."""
    pids: dict[str, list[int]] = {}
    for line in apps_csv.splitlines():
        parts = [part.strip() for part in line.split(",")]
        if len(parts) >= 2 and parts[1].isdigit():
            pids.setdefault(parts[0], []).append(int(parts[1]))
    found = []
    for line in gpus_csv.splitlines():
        parts = [part.strip() for part in line.split(",")]
        if len(parts) not in (5, 8) or not parts[0].isdigit():
            continue
        total, used = _number(parts[3]), _number(parts[4])
        extra = [_number(part) for part in parts[5:]] or [None, None, None]
        found.append(
            GpuInfo(int(parts[0]), parts[1], parts[2], total or 0.0, used or 0.0,
                    tuple(pids.get(parts[1], ())), *extra)
        )  # fmt: skip
    return sorted(found, key=lambda gpu: gpu.index)


def inventory_script() -> str:
    """One round trip: the GPU rows, a separator, the compute processes; `no-nvidia-smi` when
    the host has no driver tools (no GPU: runs take slots there)."""
    query = "nvidia-smi --format=csv,noheader,nounits"
    return (
        "command -v nvidia-smi >/dev/null 2>&1 || { echo no-nvidia-smi; exit 0; }\n"
        f"{query} --query-gpu={GPU_FIELDS} || exit 4\n"
        "echo ---apps---\n"
        f"{query} --query-compute-apps={APP_FIELDS} 2>/dev/null || true\n"
    )


def parse_inventory_output(output: str) -> list[GpuInfo]:
    """What `inventory_script` printed: no GPU is an empty list."""
    if output.strip() == "no-nvidia-smi":
        return []
    gpus_csv, _, apps_csv = output.partition("---apps---")
    return parse_inventory(gpus_csv, apps_csv)
