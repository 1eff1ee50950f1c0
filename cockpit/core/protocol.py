"""The words the supervisor and its clients share, as types: run states, the stage a run's
launch or stop is in, failure classes, warnings, relaunch guards, and the requests a client
may send.

Every decision in cockpit is taken on these values, never on a human-readable line: a
`detail` is for people, a `Stage` or a `Guard` is for code. States, failure classes and
warnings are `StrEnum`s, so they are stored (and compared with what older stores hold) as
their plain text. Standard library only: the CLI paths that print and exit import this.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar


class RunState(enum.StrEnum):
    """Where a run is in its life, as the store keeps it."""

    QUEUED = "queued"
    """Passed pre-flight and waits for a place: a free GPU (or slot) on its backend's hosts,
    in launch order. Nothing runs or bills; it can be stopped (removed) like any run."""
    STARTING = "starting"
    """Created: pre-flight, the backend launch or the setup command is under way."""
    RUNNING = "running"
    """The training command runs."""
    SUCCEEDED = "succeeded"
    """Exited 0 with every success marker found and read."""
    FAILED = "failed"
    """Ended by a failure; `failure_class` says which."""
    STOPPED = "stopped"
    """Stopped and terminated on request."""
    CAP_EXCEEDED = "cap-exceeded"
    """Stopped and terminated because its run or plan cost cap was reached."""

    @property
    def active(self) -> bool:
        return self in ACTIVE_STATES

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES


ACTIVE_STATES = frozenset({RunState.QUEUED, RunState.STARTING, RunState.RUNNING})
TERMINAL_STATES = frozenset(set(RunState) - ACTIVE_STATES)


class Stage(enum.StrEnum):
    """The side effect a run is in the middle of, recorded before it is started, so a
    supervisor that dies there is completed or undone by the next one."""

    NONE = ""
    """Nothing under way (an active run with a handle is simply watched)."""
    PREFLIGHT = "preflight"
    """Pre-flight runs; nothing was launched. A new supervisor fails the run (it says why)."""
    LAUNCHING = "launching"
    """Pre-flight passed and the backend launch was asked for; a resource may exist. A new
    supervisor asks again (launches are idempotent on the run id: it adopts what exists)."""
    STOPPING = "stopping"
    """A stop + terminate is under way; `stop_intent` says what the run ends as. A new
    supervisor carries the stop out again and verifies it."""
    WRAP_UP = "wrap-up"
    """Terminal: terminate what may still run (verified), then the result."""
    WRITE_BACK = "write-back"
    """Terminal and verified gone: fetch uploaded logs, write the result back. An automatic
    relaunch of the run waits for this stage (never two attempts at once)."""
    DONE = "done"
    """Terminal and wrapped up: the result is written (or there was no plan to write to)."""


class FailureClass(enum.StrEnum):
    OOM = "oom"
    NAN = "nan"
    CRASH = "crash"
    """The process died by itself: a Python exception, a native crash (SIGSEGV, abort, ...)."""
    KILLED = "killed"
    """Killed from outside: SIGKILL, SIGTERM, the OOM killer."""
    INFRA = "infra"
    PREEMPTED = "preempted"
    TIMEOUT = "timeout"
    NO_ARTIFACTS = "no-artifacts"
    PREFLIGHT = "preflight"
    INTERRUPTED = "interrupted"
    """The supervisor died while the run was in a stage that cannot be resumed (pre-flight)."""
    UNKNOWN = "unknown"


class RunWarning(enum.StrEnum):
    """Standing warnings a run carries while their condition holds."""

    STALLED = "stalled"
    ON_HOLD = "on-hold"
    NAN = "nan"
    TERMINATE_FAILED = "terminate-failed"
    """A stop + terminate did not succeed yet: the resource may still bill (retries go on)."""
    GPU_UNAVAILABLE = "gpu-unavailable"
    """The run's host has no NVIDIA GPU (its GPU sampler said so)."""
    CONTROL_FAILED = "control-failed"
    """Handling this run raised in the supervisor's last poll (see its events)."""
    UNREACHABLE = "unreachable"
    """Its backend does not answer (a host down or hung, RunPod's API): state unknown, its
    cap still checked; cleared (with the detail it had) when the backend answers again."""
    STILL_BILLING = "still-billing"
    """Its process is gone but its resource still bills (a stopped pod's volume) until the
    supervisor has terminated it."""
    PENDING = "pending"
    """It waits in a scheduler's queue (a Slurm job pending or requeued): nothing billed
    meanwhile; its detail says what it waits for."""


HEALTH_WARNINGS = frozenset({RunWarning.STALLED, RunWarning.ON_HOLD, RunWarning.NAN})
"""The warnings `health.decide` owns; the supervisor sets the others."""
INFO_WARNINGS = frozenset({RunWarning.GPU_UNAVAILABLE, RunWarning.PENDING})
"""Facts shown where they matter (the GPU sparklines), not as alarm badges."""


class Guard(enum.StrEnum):
    """Why a relaunch did not follow a run's end (the text beside it says it in words)."""

    NONE = ""
    STOPPED_ON_REQUEST = "stopped-on-request"
    COST_CAP = "cost-cap"
    NOT_RECOVERABLE = "not-recoverable"
    """The failure class is not in `recover.on`."""
    ATTEMPTS_EXHAUSTED = "attempts-exhausted"
    MONITOR_ONLY = "monitor-only"
    PLAN_STATE = "plan-state"
    PREFLIGHT_FAILED = "preflight-failed"
    INTERRUPTED = "interrupted"
    RELAUNCH_HELD = "relaunch-held"
    """An automatic relaunch came due and a launch guard refused it (another run of the
    hypothesis is active, max_parallel, a cap, the plan's state)."""


class RequestStatus(enum.StrEnum):
    """Where a request row is: waiting, being executed, or answered."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    REFUSED = "refused"
    FAILED = "failed"


OPEN_REQUESTS = frozenset({RequestStatus.PENDING, RequestStatus.RUNNING})
"""A request in one of these has no answer yet."""


class ProtocolError(ValueError):
    """A stored request whose kind or payload this cockpit cannot read."""


@dataclass(frozen=True)
class LaunchRequest:
    """Launch a hypothesis (`PLAN:H1` or `H1`) after pre-flight."""

    KIND: ClassVar[str] = "launch"
    hypothesis: str
    plan: str | None = None
    backend: str | None = None
    allow_dirty: bool = False
    loop: str | None = None
    """The loop whose tick this launch is (written by the supervisor's loop, not by people)."""
    iteration: int | None = None
    preamble: str | None = None
    """Text that opens the run's onstart log (the output of the loop's plan hook)."""


@dataclass(frozen=True)
class RelaunchRequest:
    """Launch an ended run's hypothesis again; `auto` is the supervisor's own relaunch (same
    spec and commit, no pre-flight)."""

    KIND: ClassVar[str] = "relaunch"
    run_id: str
    auto: bool = False
    allow_dirty: bool = False


@dataclass(frozen=True)
class StopRequest:
    """Stop and terminate a run."""

    KIND: ClassVar[str] = "stop"
    run_id: str


@dataclass(frozen=True)
class RaiseCapRequest:
    """Raise the cost cap of a hypothesis of a plan, or of the plan when `hypothesis` is None."""

    KIND: ClassVar[str] = "raise_cap"
    plan: str
    cap: float
    hypothesis: str | None = None


@dataclass(frozen=True)
class LoopStartRequest:
    """Start a loop over a plan's open hypotheses: one run per tick, until a stop rule holds."""

    KIND: ClassVar[str] = "loop_start"
    plan: str | None = None
    max_ticks: int | None = None
    every_s: float | None = None


class LoopRunMode(enum.StrEnum):
    """What stopping a loop does to the run of the tick in flight."""

    FINISH = "finish"
    """Let it finish and be written back; no further tick."""
    STOP = "stop"
    """Stop and terminate it now."""


@dataclass(frozen=True)
class LoopStopRequest:
    """Stop the loop of a plan (the only one, when `plan` is None)."""

    KIND: ClassVar[str] = "loop_stop"
    plan: str | None = None
    run: str = LoopRunMode.FINISH


Command = (
    LaunchRequest | RelaunchRequest | StopRequest | RaiseCapRequest | LoopStartRequest
    | LoopStopRequest
)  # fmt: skip
COMMANDS: dict[str, type[Command]] = {
    cls.KIND: cls
    for cls in (
        LaunchRequest, RelaunchRequest, StopRequest, RaiseCapRequest, LoopStartRequest,
        LoopStopRequest,
    )
}  # fmt: skip


def to_payload(command: Command) -> dict[str, Any]:
    """The JSON object a request row stores."""
    return asdict(command)


def from_payload(kind: str, payload: dict[str, Any]) -> Command:
    """The request a stored row holds; `ProtocolError` says what is wrong with it."""
    cls = COMMANDS.get(kind)
    if cls is None:
        raise ProtocolError(f"unknown request kind {kind!r}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(payload) - set(known))
    if unknown:
        raise ProtocolError(f"{kind}: unknown field(s) {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for name, value in payload.items():
        values[name] = _checked(kind, name, known[name].type, value)
    try:
        return cls(**values)
    except TypeError as exc:  # a required field is missing
        raise ProtocolError(f"{kind}: {exc}") from exc


def _checked(kind: str, name: str, annotation: object, value: Any) -> Any:
    wanted = str(annotation)
    if value is None and "None" in wanted:
        return None
    if wanted.startswith("bool"):
        if isinstance(value, bool):
            return value
    elif wanted.startswith("float"):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif (wanted.startswith("str") and isinstance(value, str)) or (
        wanted.startswith("int") and isinstance(value, int) and not isinstance(value, bool)
    ):
        return value
    raise ProtocolError(f"{kind}: field {name} is not a {wanted.split(' |')[0]}: {value!r}")
