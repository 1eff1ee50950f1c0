"""The GPUs of the hosts cockpit places runs on, asked beside the poll (issue 20).

Each local or SSH backend is asked for its GPUs (`Backend.gpu_inventory`: NVML here,
`nvidia-smi` over SSH) every `ASK_EVERY_S` while it has runs placed or queued, and every
`IDLE_ASK_S` otherwise (and when it said it has no GPU); every `FRESH_S` while a run waits for
a place there. A host that hangs is not waited for (its ask goes on beside the poll, as
observations do). Answers are kept here for placement and written to the store for the GPU
view; a host that cannot be asked keeps its last answer and says why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass

from backends.gpu_inventory import GpuInfo
from cockpit.core.backend_factory import placement_group
from cockpit.core.config_backends import PLACED_KINDS
from cockpit.store.gpu_table import GpuRow, record_gpu_failure, record_gpus
from cockpit.supervisor.context import Context, describe, log

ASK_EVERY_S = 5.0
IDLE_ASK_S = 60.0
FRESH_S = 2.0


@dataclass(frozen=True)
class Answer:
    gpus: tuple[GpuInfo, ...]
    t: float


class GpuHosts:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.answers: dict[str, Answer] = {}
        """Host (backend name): its GPUs as last asked."""
        self.errors: dict[str, str] = {}
        self._asking: dict[str, asyncio.Task[None]] = {}
        self._waiting: set[str] = set()
        """Hosts a queued run waits on: an answer that changes what placement sees wakes
        the poll (other answers wait for it: a poll of many runs costs more than an ask)."""
        self._asked_at: dict[str, float] = {}

    def hosts(self) -> list[str]:
        """Every configured backend cockpit places runs on."""
        config = self.ctx.config
        return [
            name
            for name, settings in config.backends.items()
            if settings.kind in PLACED_KINDS
            and name in self.ctx.backends
            and self.ctx.backends[name].places_runs
        ]

    def busy_hosts(self, active: Iterable[str]) -> set[str]:
        """Hosts with a run placed or waiting for a place (asked more often); `active`: the
        backends with active runs."""
        busy: set[str] = set()
        for backend in active:
            busy.update(placement_group(self.ctx.config, backend) or ())
        return busy & set(self.hosts())

    def ask(self, active: Iterable[str], waiting: Set[str] = frozenset()) -> None:
        """Start the asks that are due (never two at once for one host); `active`: backends
        with active runs; `waiting`: hosts a queued run waits on (asked every FRESH_S)."""
        now = self.ctx.clock()
        self._waiting = set(waiting)
        busy = self.busy_hosts(active) | waiting
        for host in self.hosts():
            task = self._asking.get(host)
            if task is not None and not task.done():
                continue
            last = self._asked_at.get(host)
            pace = FRESH_S if host in waiting else ASK_EVERY_S if host in busy else IDLE_ASK_S
            answer = self.answers.get(host)
            if answer is not None and not answer.gpus and host not in self.errors:
                pace = IDLE_ASK_S  # no GPU there: its runs take slots, nothing to watch
            if last is not None and now - last < pace:
                continue
            self._asked_at[host] = now
            self._asking[host] = asyncio.get_running_loop().create_task(
                self._ask(host), name=f"gpus:{host}"
            )

    async def _ask(self, host: str) -> None:
        ctx = self.ctx
        backend = ctx.backends.get(host)
        if backend is None:
            return
        try:
            gpus = await backend.gpu_inventory()
        except NotImplementedError:  # a backend that cannot tell: as a host without GPUs
            gpus = []
        except Exception as exc:
            said = describe(exc)
            if self.errors.get(host) != said:
                log.warning("GPUs of %s: %s", host, said)
            self.errors[host] = said
            record_gpu_failure(ctx.store.conn, host, said, ctx.clock())
            return
        now = ctx.clock()
        self.errors.pop(host, None)
        before = self.answers.get(host)
        self.answers[host] = Answer(tuple(gpus), now)
        rows = [
            GpuRow(
                host, gpu.index, gpu.name, gpu.uuid, gpu.memory_used_mb, gpu.memory_total_mb,
                gpu.utilization, gpu.temperature, gpu.power, gpu.pids,
            )
            for gpu in gpus
        ]  # fmt: skip
        with ctx.store.transaction():
            record_gpus(ctx.store.conn, host, rows, now)
        if host in self._waiting and (before is None or _placing(before.gpus) != _placing(gpus)):
            ctx.wake.set()  # a run waits for this host, and what placement sees changed

    def in_flight(self) -> list[asyncio.Task[None]]:
        """The asks under way (shutdown cancels them with the rest, and waits a bounded time)."""
        return [task for task in self._asking.values() if not task.done()]


def _placing(gpus: Sequence[GpuInfo]) -> list[tuple[int, int, tuple[int, ...]]]:
    """What placement reads of an answer, memory to the GB (load, temperature and power do
    not place runs; a training run's memory moves by megabytes all the time)."""
    return [(gpu.index, round(gpu.memory_used_mb / 1024), gpu.pids) for gpu in gpus]
