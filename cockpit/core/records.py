"""The rows of the store as plain values, shared by the supervisor, the UIs and the CLI."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from cockpit.core.protocol import ACTIVE_STATES, TERMINAL_STATES, Guard, RunState, Stage

__all__ = ["ACTIVE_STATES", "TERMINAL_STATES"]


@dataclass(frozen=True)
class RunRecord:
    id: str
    hypothesis: str
    plan: str
    backend: str
    commit: str
    spec: dict[str, Any]
    handle: dict[str, Any] | None
    state: RunState
    request_id: str | None
    created_at: float
    started_at: float | None
    ended_at: float | None
    exit_code: int | None
    cost_per_hour: float
    cost_so_far: float
    uptime_s: float
    detail: str
    failure_class: str | None = None
    """oom, nan, crash, killed, infra, preempted, timeout, no-artifacts, preflight, unknown."""
    failure_source: str | None = None
    failure_line_no: int | None = None
    """1-based line number, in the mirror of `failure_source`, of the line that decided."""
    failure_line: str | None = None
    attempt: int = 1
    parent: str | None = None
    """The run this one relaunched."""
    warnings: tuple[str, ...] = ()
    """Standing warnings: stalled, on-hold, nan."""
    guard: str = ""
    """Why no relaunch followed a failure, when none did (in words)."""
    cap: float | None = None
    """The run's cost cap in dollars when it was last checked."""
    stage: Stage = Stage.NONE
    """The side effect under way (launch, stop, wrap-up), recorded before it starts."""
    stop_intent: dict[str, Any] | None = None
    """What a stop under way ends the run as (state, detail, failure, guard, relaunch)."""
    guard_kind: Guard = Guard.NONE
    """Which guard held a relaunch back: what code decides on (`guard` is for people)."""
    hypothesis_text: str | None = None
    """The hypothesis line as launched (after its id): how write-back finds it if it moved."""
    loop_id: str | None = None
    """The loop (`cockpit loop start`) whose tick launched the run, if one did."""
    loop_iter: int | None = None
    """Which tick of that loop (1-based); auto-recover attempts keep their tick's number."""
    verdict: str | None = None
    """What write-back judged: adopted, rejected, inconclusive, or how the run failed."""
    host: str | None = None
    """The backend (a host of a pool, or the backend itself) the run was placed on."""
    gpus: tuple[int, ...] = ()
    """The GPU indices it was placed on (its `CUDA_VISIBLE_DEVICES`)."""
    want_gpus: int | None = None
    """GPUs it asks for (None: its backend does not place runs: a pod, a Slurm job)."""
    want_vram_gb: float | None = None
    """The free memory it asks of each GPU, in GB (None: any)."""
    pool: str | None = None
    """The pool it was launched on (its `backend` is then the member it was placed on): a
    relaunch is placed on the pool again."""

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "hypothesis": self.hypothesis,
            "plan": self.plan,
            "backend": self.backend,
            "state": self.state,
            "commit": self.commit,
            "created_at": iso_time(self.created_at),
            "started_at": iso_time(self.started_at),
            "ended_at": iso_time(self.ended_at),
            "exit_code": self.exit_code,
            "cost_per_hour": self.cost_per_hour,
            "cost_so_far": round(self.cost_so_far, 6),
            "uptime_s": round(self.uptime_s, 3),
            "detail": self.detail,
            "failure_class": self.failure_class,
            "failure_line": self.failure_line,
            "failure_source": self.failure_source,
            "failure_line_no": self.failure_line_no,
            "attempt": self.attempt,
            "parent": self.parent,
            "warnings": list(self.warnings),
            "guard": self.guard or None,
            "guard_kind": self.guard_kind.value or None,
            "cap": self.cap,
            "stage": self.stage.value or None,
            "hypothesis_text": self.hypothesis_text,
            "loop": self.loop_id,
            "iter": self.loop_iter,
            "verdict": self.verdict,
            "host": self.host,
            "gpus": list(self.gpus) if self.host is not None else None,
        }


@dataclass(frozen=True)
class Event:
    id: int
    run_id: str | None
    t: float
    kind: str
    message: str


@dataclass(frozen=True)
class Request:
    id: str
    t: float
    kind: str
    payload: dict[str, Any]
    client: str
    status: str
    result: str
    run_id: str | None
    not_before: float = 0.0


@dataclass(frozen=True)
class Anomaly:
    run_id: str
    source: str
    line_no: int
    kind: str
    """The failure class the line points to."""
    line: str


@dataclass(frozen=True)
class Alert:
    """A standing alert of the supervisor's (a broken config file): shown until it clears."""

    key: str
    run_id: str | None
    t: float
    message: str


@dataclass(frozen=True)
class Heartbeat:
    pid: int
    host: str
    started_at: float
    t: float


def iso_time(t: float | None) -> str | None:
    if t is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


def run_from_row(row: sqlite3.Row) -> RunRecord:
    return RunRecord(
        id=row["id"],
        hypothesis=row["hypothesis"],
        plan=row["plan"],
        backend=row["backend"],
        commit=row["commit_sha"],
        spec=json.loads(row["spec"]),
        handle=json.loads(row["handle"]) if row["handle"] else None,
        state=RunState(row["state"]),
        request_id=row["request_id"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        exit_code=row["exit_code"],
        cost_per_hour=row["cost_per_hour"],
        cost_so_far=row["cost_so_far"],
        uptime_s=row["uptime_s"],
        detail=row["detail"],
        failure_class=row["failure_class"],
        failure_source=row["failure_source"],
        failure_line_no=row["failure_line_no"],
        failure_line=row["failure_line"],
        attempt=row["attempt"],
        parent=row["parent"],
        warnings=tuple(w for w in row["warnings"].split(",") if w),
        guard=row["guard"],
        cap=row["cap"],
        **(_stage_columns(row) if len(row) > _SCHEMA4_RUN_COLUMNS else {}),
    )


_SCHEMA4_RUN_COLUMNS = 27
"""Columns of `runs` before schema 5 (a read-only watch may read a store not migrated yet)."""


def _stage_columns(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "stage": Stage(row["stage"]),
        "stop_intent": json.loads(row["stop_intent"]) if row["stop_intent"] else None,
        "guard_kind": Guard(row["guard_kind"]),
        # `in row` would look among a sqlite3.Row's values
        "hypothesis_text": row["hypothesis_text"] if "hypothesis_text" in row.keys() else None,  # noqa: SIM118
        **(
            {"loop_id": row["loop_id"], "loop_iter": row["loop_iter"], "verdict": row["verdict"]}
            if "loop_id" in row.keys()  # noqa: SIM118
            else {}
        ),
        **(
            {
                "host": row["host"],
                "gpus": tuple(int(i) for i in row["gpus"].split(",") if i) if row["gpus"] else (),
                "want_gpus": row["want_gpus"],
                "want_vram_gb": row["want_vram_gb"],
                "pool": row["pool"],
            }
            if "host" in row.keys()  # noqa: SIM118
            else {}
        ),
    }


@dataclass(frozen=True)
class LoopRecord:
    """A loop over one plan's open hypotheses (see `cockpit.supervisor.loops`)."""

    id: str
    plan: str
    state: str
    """running, stopping (asked to stop; a run may be finishing) or ended."""
    max_ticks: int | None
    every_s: float | None
    """At most one tick this often (None: the next tick when the last is written back)."""
    ticks: int
    tried: tuple[str, ...]
    """The hypothesis lines this loop took (so a failed one is not retried by it)."""
    counted: tuple[str, ...]
    """Runs whose verdict the loop has counted."""
    rejected_streak: int
    pending_request: str | None
    """The launch request of the tick in flight, until it is answered."""
    last_tick_at: float | None
    started_at: float
    ended_at: float | None
    stop_mode: str | None
    """finish or stop: how a requested stop treats the run in flight."""
    stop_reason: str | None
    end_state: str | None
    """The plan state the loop wrote at its end (None: left as it was)."""
    report: str | None

    @property
    def active(self) -> bool:
        return self.state != "ended"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "plan": self.plan, "state": self.state, "ticks": self.ticks,
            "max": self.max_ticks, "every_s": self.every_s, "started_at": iso_time(self.started_at),
            "ended_at": iso_time(self.ended_at), "stop_reason": self.stop_reason,
            "end_state": self.end_state, "report": self.report, "tried": list(self.tried),
            "rejected_in_a_row": self.rejected_streak,
        }  # fmt: skip


def loop_from_row(row: sqlite3.Row) -> LoopRecord:
    return LoopRecord(
        id=row["id"], plan=row["plan"], state=row["state"], max_ticks=row["max_ticks"],
        every_s=row["every_s"], ticks=row["ticks"], tried=tuple(json.loads(row["tried"])),
        counted=tuple(json.loads(row["counted"])), rejected_streak=row["rejected_streak"],
        pending_request=row["pending_request"], last_tick_at=row["last_tick_at"],
        started_at=row["started_at"], ended_at=row["ended_at"], stop_mode=row["stop_mode"],
        stop_reason=row["stop_reason"], end_state=row["end_state"], report=row["report"],
    )  # fmt: skip


def request_from_row(row: sqlite3.Row) -> Request:
    return Request(
        id=row["id"],
        t=row["t"],
        kind=row["kind"],
        payload=json.loads(row["payload"]),
        client=row["client"],
        status=row["status"],
        result=row["result"],
        run_id=row["run_id"],
        not_before=row["not_before"],
    )
