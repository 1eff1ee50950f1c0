"""What the GPU view shows, line by line (issue 20): every GPU of every host cockpit places
runs on, with its load, memory, temperature, power, the cockpit run on it (or "other process"
for one cockpit does not know) and a sparkline of its utilisation. Pure: the view reads the
store in a thread and gives the rows here; a test gives them directly.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from cockpit.core.records import RunRecord
from cockpit.store.gpu_table import GpuHost, GpuRow

SPARK = "▁▂▃▄▅▆▇█"
BAR = 10
STALE_S = 30.0
"""An answer older than this is shown with its time (the host was not asked since, or hangs)."""


@dataclass(frozen=True)
class GpuLine:
    key: str
    """`host:index` for a GPU, `host:` for a line about the host itself."""
    host: str
    gpu: str
    name: str
    util: str
    memory: str
    temp: str
    power: str
    run: str
    """The cockpit run on it, `other process (pid …)`, `free` — or, on a host's own line,
    what there is to say about the host."""
    history: str
    run_id: str | None = None
    """The cockpit run on this GPU (Enter opens it)."""
    holder: str = ""
    """"run", "other" (a process cockpit does not know), "free"; "" on a host's own line."""


def bar(fraction: float, width: int = BAR) -> str:
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return "█" * filled + "░" * (width - filled)


def sparkline(values: Sequence[float], width: int = 20) -> str:
    """Utilisation (0-100) of the last `width` samples, one cell each."""
    shown = list(values)[-width:]
    return "".join(SPARK[min(7, int(max(0.0, v) / 100 * 8))] for v in shown)


def _name(name: str) -> str:
    return name.removeprefix("NVIDIA ").strip()


def gpu_lines(
    hosts: Sequence[GpuHost],
    gpus: Sequence[GpuRow],
    runs: Sequence[RunRecord],
    slots: dict[str, int],
    now: float,
) -> list[GpuLine]:
    """One line per GPU, by host and index; a host without GPUs, or one that cannot be asked,
    gets a line saying so. `runs`: the active runs (placed ones hold their GPUs); `slots`:
    each host's slots (shown for hosts without GPUs)."""
    holders: dict[tuple[str, int], list[RunRecord]] = {}
    for run in runs:
        for index in run.gpus:
            holders.setdefault((run.host or run.backend, index), []).append(run)
    by_host: dict[str, list[GpuRow]] = {}
    for row in gpus:
        by_host.setdefault(row.host, []).append(row)
    lines = []
    for host in hosts:
        rows = by_host.get(host.host, [])
        if host.error:
            lines.append(_host_line(host.host, f"cannot be asked: {host.error}", now, host.t))
        elif now - host.t > STALE_S:
            lines.append(_host_line(host.host, "not asked lately: the GPUs below may be old",
                                    now, host.t))  # fmt: skip
        if not rows and not host.error:
            on_it = [run.id for run in runs if (run.host or "") == host.host]
            taken = f"{len(on_it)} of {slots.get(host.host, 1)} slots taken"
            lines.append(
                _host_line(host.host, f"no GPU: {taken}" + (f" ({', '.join(on_it)})" if on_it
                                                            else ""), now, None)
            )  # fmt: skip
        for row in rows:
            held = holders.get((host.host, row.index), [])
            if held:
                holder, who = "run", ", ".join(run.id for run in held)
            elif row.pids:
                pids = ", ".join(str(pid) for pid in row.pids[:2])
                holder, who = "other", f"other process (pid {pids})"
            else:
                holder, who = "free", "free"
            util = "" if row.utilization is None else f"{row.utilization:3.0f}%"
            used, total = row.memory_used_mb / 1024, row.memory_total_mb / 1024
            lines.append(
                GpuLine(
                    key=f"{host.host}:{row.index}", host=host.host, gpu=f"GPU {row.index}",
                    name=_name(row.name),
                    util=f"{bar((row.utilization or 0) / 100)} {util:>4}" if util else "?",
                    memory=f"{bar(used / total if total else 0)} {used:5.1f}/{total:.0f} GB",
                    temp="" if row.temperature is None else f"{row.temperature:.0f}°C",
                    power="" if row.power is None else f"{row.power:.0f} W",
                    run=who, history=sparkline(row.history),
                    run_id=held[0].id if held else None, holder=holder,
                )
            )  # fmt: skip
    return lines


@dataclass(frozen=True)
class Reading:
    """A GPU of a run that brings its own (a pod, a Slurm job), from its gpu source's last
    samples: utilisation %, memory %, temperature, power (None: not sampled)."""

    index: int
    util: float | None
    memory_percent: float | None
    temp: float | None
    power: float | None


def own_gpu_lines(run: RunRecord, readings: Sequence[Reading]) -> list[GpuLine]:
    """The GPUs of a run cockpit did not place (RunPod's pod, a Slurm job's node), as its own
    gpu source last sampled them; none sampled yet: one line saying so."""
    if not readings:
        return [GpuLine(key=f"{run.id}:", host=run.backend, gpu="", name="its own GPUs: no "
                        "sample yet", util="", memory="", temp="", power="", run=run.id,
                        history="", run_id=run.id)]  # fmt: skip
    return [
        GpuLine(
            key=f"{run.id}:{r.index}", host=run.backend, gpu=f"GPU {r.index}",
            name="the run's own (not placed)",
            util="?" if r.util is None else f"{bar(r.util / 100)} {r.util:3.0f}%",
            memory="?" if r.memory_percent is None
            else f"{bar(r.memory_percent / 100)} {r.memory_percent:3.0f}% used",
            temp="" if r.temp is None else f"{r.temp:.0f}°C",
            power="" if r.power is None else f"{r.power:.0f} W",
            run=run.id, history="", run_id=run.id, holder="run",
        )
        for r in readings
    ]  # fmt: skip


def _host_line(host: str, text: str, now: float, t: float | None) -> GpuLine:
    when = f" (as of {time.strftime('%H:%M:%S', time.localtime(t))})" if t else ""
    # In the run column: the one a narrow terminal still shows after host and GPU.
    return GpuLine(key=f"{host}:", host=host, gpu="", name="", util="", memory="",
                   temp="", power="", run=text + when, history="")  # fmt: skip


def summary(lines: Sequence[GpuLine]) -> str:
    gpus = [line for line in lines if line.gpu]
    hosts = {line.host for line in lines}
    held = sum(1 for line in gpus if line.holder == "run")
    other = sum(1 for line in gpus if line.holder == "other")
    free = sum(1 for line in gpus if line.holder == "free")
    return (
        f"{len(hosts)} host{'s' if len(hosts) != 1 else ''} · {len(gpus)} GPUs: {held} with a "
        f"cockpit run, {other} with another process, {free} free"
    )
