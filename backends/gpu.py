"""GPU samples from NVML, formatted exactly like `nvidia-smi --query-gpu=... --format=csv`.

Every backend's gpu source carries lines in the same column order (index, name, utilization %,
memory used MiB, memory total MiB, temperature C, power W), so one parser serves them all.
Without an NVIDIA driver this says so once, in words, instead of failing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection
from typing import Any

from backends.gpu_inventory import GpuInfo

NO_GPU_LINE = "no NVIDIA GPU on this host"
GPU_QUERY = "index,name,utilization.gpu,memory.used,memory.total,temperature.gpu,power.draw"


class NvmlSampler:
    """Reads all GPUs of this host through NVML (the nvidia-ml-py package)."""

    def __init__(self, loader: Callable[[], Any] | None = None) -> None:
        self._loader = loader or _import_pynvml
        self._nvml: Any = None
        self.error: str | None = None

    def open(self) -> bool:
        """Initialise NVML; False (and `error` set) when there is no usable GPU."""
        try:
            nvml = self._loader()
            nvml.nvmlInit()
            if nvml.nvmlDeviceGetCount() == 0:
                self.error = NO_GPU_LINE
                return False
        except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ImportError
            self.error = f"{NO_GPU_LINE} ({exc})"
            return False
        self._nvml = nvml
        return True

    def sample_lines(self, only: Collection[int] | None = None) -> list[str]:
        """One CSV line per GPU (`only`: the run's GPUs; None: all); fields NVML cannot read
        are `[N/A]`, like nvidia-smi's."""
        nvml = self._nvml
        lines = []
        for index in range(nvml.nvmlDeviceGetCount()):
            if only is not None and index not in only:
                continue
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            name = _safe(nvml.nvmlDeviceGetName, handle)
            util = _safe(lambda h: nvml.nvmlDeviceGetUtilizationRates(h).gpu, handle)
            memory = _safe(nvml.nvmlDeviceGetMemoryInfo, handle)
            temp = _safe(lambda h: nvml.nvmlDeviceGetTemperature(h, 0), handle)
            power = _safe(lambda h: nvml.nvmlDeviceGetPowerUsage(h) / 1000, handle)
            used = "[N/A]" if memory == "[N/A]" else memory.used // (1024 * 1024)
            total = "[N/A]" if memory == "[N/A]" else memory.total // (1024 * 1024)
            if isinstance(power, float):
                power = f"{power:.2f}"
            lines.append(f"{index}, {name}, {util}, {used}, {total}, {temp}, {power}")
        return lines

    def inventory(self) -> list[GpuInfo]:
        """Every GPU with its memory, utilisation and compute processes (for placement)."""
        nvml = self._nvml
        found = []
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            processes = _safe(nvml.nvmlDeviceGetComputeRunningProcesses, handle)
            util = _safe(lambda h: nvml.nvmlDeviceGetUtilizationRates(h).gpu, handle)
            temp = _safe(lambda h: nvml.nvmlDeviceGetTemperature(h, 0), handle)
            power = _safe(lambda h: nvml.nvmlDeviceGetPowerUsage(h) / 1000, handle)
            known = (float(v) if isinstance(v, int | float) else None for v in (util, temp, power))
            found.append(
                GpuInfo(
                    index, _text(_safe(nvml.nvmlDeviceGetUUID, handle)),
                    _text(_safe(nvml.nvmlDeviceGetName, handle)),
                    memory.total / 2**20, memory.used / 2**20,
                    tuple(p.pid for p in processes) if isinstance(processes, list) else (),
                    *known,
                )
            )  # fmt: skip
        return found

    def close(self) -> None:
        if self._nvml is not None:
            with contextlib.suppress(Exception):
                self._nvml.nvmlShutdown()
            self._nvml = None


def visible(value: str | None) -> list[int] | None:
    """The GPU indices of a `COCKPIT_GPUS` value ("0,2"); None when the run was not placed."""
    if not value:
        return None
    return [int(part) for part in value.split(",") if part.strip().isdigit()]


def _text(value: Any) -> str:
    """Older NVML bindings answer bytes."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _import_pynvml() -> Any:
    import pynvml  # nvidia-ml-py

    return pynvml


def _safe(read: Callable[[Any], Any], handle: Any) -> Any:
    try:
        value = read(handle)
    except Exception:
        return "[N/A]"
    return value.decode() if isinstance(value, bytes) else value
