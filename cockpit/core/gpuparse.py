"""The gpu log source's lines: `nvidia-smi --query-gpu=...` CSV, one GPU a line."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class GpuSample:
    index: int
    name: str
    util: float | None
    mem_used_mib: float | None
    mem_total_mib: float | None
    temp_c: float | None
    power_w: float | None

    @property
    def mem_percent(self) -> float | None:
        if self.mem_used_mib is None or not self.mem_total_mib:
            return None
        return 100.0 * self.mem_used_mib / self.mem_total_mib


def parse_gpu_line(line: str) -> GpuSample | None:
    """One `nvidia-smi --query-gpu=index,name,...` CSV line; `[N/A]` fields become None."""
    parts = [part.strip() for part in line.split(",")]
    if len(parts) != 7 or not parts[0].isdigit():
        return None

    def num(text: str) -> float | None:
        try:
            value = float(text)
        except ValueError:
            return None
        return value if math.isfinite(value) else None

    return GpuSample(
        int(parts[0]),
        parts[1],
        num(parts[2]),
        num(parts[3]),
        num(parts[4]),
        num(parts[5]),
        num(parts[6]),
    )
