"""Where a run goes: GPU placement across hosts, as one pure function (like `health.decide`).

The supervisor gives `place` what a run asks for (`Demand`), the hosts of its backend group in
their order (`Host`, each with the GPUs it reported: memory, and whether a process cockpit does
not know runs there) and what cockpit's runs hold now (`Held`). It answers a `Placement` (the
host and the GPU indices: `CUDA_VISIBLE_DEVICES`) or a `Waiting` with the reason, in words —
the run is then queued until a slot frees.

Rules: the first host (in the configured order) with room wins; on it, the lowest free indices.
A GPU is free when no cockpit run holds it (unless the host says `share_gpus`), no foreign
process runs on it (another user's job is respected), and it has the free memory asked for.
A host without GPUs has `slots` instead; a run that asks for no GPU takes a slot anywhere, and
so does every run when no host of the group has a GPU. In a group with GPUs, a GPU run goes
only to hosts with GPUs.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Gpu:
    index: int
    memory_total_mb: float
    memory_used_mb: float = 0.0
    """Used by anyone (cockpit's runs included)."""
    foreign: bool = False
    """A process cockpit does not know runs on it."""

    @property
    def free_gb(self) -> float:
        return max(0.0, self.memory_total_mb - self.memory_used_mb) / 1024


class GpuReport(Protocol):
    """What a backend reports of one GPU (`backends.gpu_inventory.GpuInfo`)."""

    @property
    def index(self) -> int: ...
    @property
    def memory_total_mb(self) -> float: ...
    @property
    def memory_used_mb(self) -> float: ...
    @property
    def pids(self) -> tuple[int, ...]: ...


UNKNOWN_MB = float("inf")
"""Memory of a configured GPU the host did not report (placement then ignores VRAM limits)."""


def gpus_from(
    reports: Sequence[GpuReport], held: Collection[int], only: Sequence[int] | None = None
) -> tuple[Gpu, ...]:
    """The GPUs placement may use: `only` the configured indices (None: every one reported; a
    configured one the host did not report is trusted, its memory unknown). A GPU with a
    process on it that no cockpit run holds (`held`: the indices cockpit's runs hold on the
    host) is foreign: another user's job."""
    reported = {report.index: report for report in reports}
    indices = sorted(reported) if only is None else list(only)
    return tuple(
        Gpu(index, reported[index].memory_total_mb, reported[index].memory_used_mb,
            foreign=bool(reported[index].pids) and index not in held)
        if index in reported else Gpu(index, UNKNOWN_MB)
        for index in indices
    )  # fmt: skip


@dataclass(frozen=True)
class Host:
    backend: str
    gpus: tuple[Gpu, ...] = ()
    slots: int = 1
    """Runs at once on a host without GPUs (or for runs that ask for none)."""
    share_gpus: bool = False
    """Several cockpit runs may share a GPU (memory permitting)."""


@dataclass(frozen=True)
class Demand:
    gpus: int = 1
    min_free_vram_gb: float | None = None


@dataclass(frozen=True)
class Held:
    """A cockpit run that holds a place now (running, or starting)."""

    run_id: str
    backend: str
    gpus: tuple[int, ...] = ()


@dataclass(frozen=True)
class Placement:
    backend: str
    gpus: tuple[int, ...]

    @property
    def visible_devices(self) -> str:
        """`CUDA_VISIBLE_DEVICES` for the run ('' when it has no GPU)."""
        return ",".join(str(index) for index in self.gpus)


@dataclass(frozen=True)
class Waiting:
    reason: str
    never: bool = False
    """No host of the group could ever take it (it asks for more GPUs than any has)."""


def place(demand: Demand, hosts: Sequence[Host], held: Sequence[Held]) -> Placement | Waiting:
    """Where a run with `demand` goes now, or why it must wait."""
    if not hosts:
        return Waiting("no host is configured")
    if demand.gpus <= 0 or not any(host.gpus for host in hosts):
        # A run that asks for no GPU, or a group with none at all (a laptop, a CPU box):
        # runs take slots, as many at once as each host has.
        for host in hosts:
            taken = sum(1 for run in held if run.backend == host.backend and not run.gpus)
            if taken < host.slots:
                return Placement(host.backend, ())
        return Waiting("waiting for a free slot (" + _slots(hosts, held) + ")")
    seen = []
    for host in hosts:
        if not host.gpus:
            seen.append(f"{host.backend}: no GPU")
            continue
        free = _free(host, demand, held)
        if len(free) >= demand.gpus:
            return Placement(host.backend, tuple(gpu.index for gpu in free[: demand.gpus]))
        seen.append(f"{host.backend}: {len(free)} of {len(host.gpus)} free")
    wanted = f"{demand.gpus} free GPU{'s' if demand.gpus > 1 else ''}"
    if demand.min_free_vram_gb:
        wanted += f" with {demand.min_free_vram_gb:g} GB free each"
    if demand.gpus > max(len(host.gpus) for host in hosts):
        return Waiting(
            f"never placeable: {wanted} on one host, and no host has that many", never=True
        )
    return Waiting(f"waiting for {wanted} on one host ({'; '.join(seen)})")


def _free(host: Host, demand: Demand, held: Sequence[Held]) -> list[Gpu]:
    taken = {index for run in held if run.backend == host.backend for index in run.gpus}
    free = []
    for gpu in sorted(host.gpus, key=lambda gpu: gpu.index):
        if gpu.foreign or (gpu.index in taken and not host.share_gpus):
            continue
        if demand.min_free_vram_gb is not None and gpu.free_gb < demand.min_free_vram_gb:
            continue
        free.append(gpu)
    return free


def _slots(hosts: Sequence[Host], held: Sequence[Held]) -> str:
    return "; ".join(
        f"{host.backend}: {sum(1 for r in held if r.backend == host.backend and not r.gpus)}"
        f" of {host.slots} taken"
        for host in hosts
    )
