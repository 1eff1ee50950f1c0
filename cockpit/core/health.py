"""Health rules as one pure function: `decide(run, observation, policy, now) -> actions`.

The supervisor gathers facts (what the backend observed, whether the logs are fully mirrored,
which success markers were found, the anomalies seen in the logs, cost and progress) and executes
whatever this returns. No I/O happens here, so every rule is a row in a table-driven test with a
fixed clock.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass

from backends.base import Observation, RunPhase
from cockpit.core.protocol import HEALTH_WARNINGS, FailureClass, Guard, RunState, RunWarning

# Which anomaly decides a failure when several were seen: the most specific first.
CLASS_PRIORITY = (
    FailureClass.OOM, FailureClass.NAN, FailureClass.KILLED, FailureClass.INFRA, FailureClass.CRASH
)  # fmt: skip
CRASH_SIGNALS = frozenset(
    {signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS, signal.SIGILL, signal.SIGFPE}
)
"""Signals a process dies of by itself (a native crash): class `crash`. Any other signal
(SIGKILL, SIGTERM, SIGINT, SIGHUP) came from outside: class `killed`."""


def death_signal(exit_code: int | None) -> signal.Signals | None:
    """The signal that ended a process: a negative return code (Python's `Popen`), or 128+N
    as a shell reports it (`sh -c` and the run wrapper)."""
    if exit_code is None:
        return None
    number = -exit_code if exit_code < 0 else exit_code - 128 if 128 < exit_code < 192 else 0
    try:
        return signal.Signals(number) if number else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Anomaly:
    """A log line that points to a failure class."""

    kind: str
    source: str
    line_no: int
    line: str


@dataclass(frozen=True)
class ArtifactCheck:
    found: tuple[str, ...]
    missing: tuple[str, ...]
    metrics_error: str | None = None
    """Why the metrics JSON could not be read, if it could not."""

    @property
    def ok(self) -> bool:
        return not self.missing and self.metrics_error is None


@dataclass(frozen=True)
class RunFacts:
    """What the supervisor knows about a run besides the backend's observation."""

    state: str
    logs_drained: bool = False
    """Every log source was mirrored to its end (the streams finished)."""
    artifacts: ArtifactCheck | None = None
    """Result of looking for the success markers; None until looked for."""
    stopping: bool = False
    """A stop is being carried out: the exit is not a failure."""
    started_at: float | None = None
    cost_so_far: float = 0.0
    cap: float | None = None
    """The run's cost cap in dollars (hypothesis, config or raised)."""
    plan_cost: float = 0.0
    """What every run of the plan has cost, this one included."""
    plan_cap: float | None = None
    progress: tuple[float | None, ...] = ()
    """The progress metric at each health check, oldest first."""
    nan_streak: int = 0
    """How many of the newest loss samples in a row are NaN or infinite."""
    anomalies: tuple[Anomaly, ...] = ()
    expected_s: float | None = None
    """How long the run should take."""
    attempt: int = 1
    warnings: tuple[str, ...] = ()
    """The warnings the run shows now."""
    monitor_only: bool = False
    """The skip list says auto-recover is not used."""
    plan_state: str | None = None


@dataclass(frozen=True)
class Policy:
    success_markers: tuple[str, ...] = ("best.pt", "metrics.json")
    stall_checks: int = 2
    stop_on_nan: bool = True
    nan_patience: int = 3
    timeout_factor: float = 2.0
    stop_on_timeout: bool = False
    recover_on: frozenset[str] = frozenset({"infra", "preempted", "killed"})
    max_attempts: int = 2
    backoff_s: float = 30.0


@dataclass(frozen=True)
class Failure:
    kind: str
    """The failure class."""
    line: str
    """The log line (or the fact) that decided it."""
    source: str | None = None
    line_no: int | None = None


@dataclass(frozen=True)
class SetState:
    state: RunState
    detail: str = ""
    failure: Failure | None = None


@dataclass(frozen=True)
class StopAndTerminate:
    """Stop the run now, verify it is gone, then set `state`."""

    state: RunState
    detail: str
    failure: Failure | None = None


@dataclass(frozen=True)
class SetWarnings:
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class CheckArtifacts:
    """Fetch the success markers and decide again with the result."""


@dataclass(frozen=True)
class Relaunch:
    """Launch the same spec again as the next attempt, after `delay_s`."""

    delay_s: float
    reason: str


@dataclass(frozen=True)
class NoRelaunch:
    guard: str
    """Which guard held the relaunch back, in words."""
    kind: Guard = Guard.NONE
    """The same, for code."""


@dataclass(frozen=True)
class Notify:
    kind: str
    message: str


Action = SetState | StopAndTerminate | SetWarnings | CheckArtifacts | Relaunch | NoRelaunch | Notify


def decide(run: RunFacts, obs: Observation, policy: Policy, now: float) -> list[Action]:
    """The actions a run needs now."""
    if run.state not in (RunState.STARTING, RunState.RUNNING) or run.stopping:
        return []
    capped = cap_rule(run)
    if capped:
        return capped
    if obs.phase is RunPhase.UNKNOWN:
        return []
    if obs.phase is RunPhase.EXITED:
        return _exited(run, obs, policy)
    actions: list[Action] = []
    if obs.phase is RunPhase.TRAINING and run.state == RunState.STARTING:
        actions += [
            SetState(RunState.RUNNING, "training started"),
            Notify(RunState.RUNNING, "training started"),
        ]
    if run.nan_streak >= policy.nan_patience and policy.stop_on_nan:
        failure = _first(run.anomalies, FailureClass.NAN) or Failure(
            FailureClass.NAN, "loss is NaN or infinite"
        )
        detail = f"loss NaN/inf for {run.nan_streak} samples in a row: stopped"
        return [
            StopAndTerminate(RunState.FAILED, detail, failure),
            Notify(RunState.FAILED, detail),
            _recovery(run, policy, FailureClass.NAN),
        ]
    warnings = _warnings(run, policy, now)
    if RunWarning.ON_HOLD in warnings and policy.stop_on_timeout:
        detail = "ran longer than its timeout: stopped"
        return [
            StopAndTerminate(RunState.FAILED, detail, Failure(FailureClass.TIMEOUT, detail)),
            Notify(RunState.FAILED, detail),
            _recovery(run, policy, FailureClass.TIMEOUT),
        ]
    # The supervisor's own warnings (terminate-failed, gpu-unavailable, ...) are kept as
    # they are: this function owns only the health warnings.
    kept = tuple(w for w in run.warnings if w not in HEALTH_WARNINGS)
    wanted = kept + warnings
    if wanted != run.warnings:
        actions.append(SetWarnings(wanted))
        for warning in warnings:
            if warning not in run.warnings:
                actions.append(Notify(warning, _WARNING_TEXT[warning]))
    return actions


_WARNING_TEXT: dict[str, str] = {
    RunWarning.STALLED: "no progress in the progress metric for several checks",
    RunWarning.ON_HOLD: "running longer than expected (on hold)",
    RunWarning.NAN: "loss is NaN or infinite",
}


def dollars(amount: float) -> str:
    """`$1.20`; an amount under ten cents keeps two significant digits (`$0.004`), so a small
    cap is never shown as `$0.00`."""
    return f"${amount:.2f}" if amount >= 0.1 or amount == 0 else f"${amount:.2g}"


def cap_rule(run: RunFacts) -> list[Action]:
    """Stop + terminate, never relaunched, once the run's or its plan's cap is reached."""
    for cap, spent, what in (
        (run.cap, run.cost_so_far, "run"),
        (run.plan_cap, run.plan_cost, "plan"),
    ):
        if cap is not None and spent >= cap:
            detail = (
                f"cost {dollars(spent)} reached the {what} cap {dollars(cap)}: "
                "stopped and terminated"
            )
            return [
                StopAndTerminate(RunState.CAP_EXCEEDED, detail),
                Notify(RunState.CAP_EXCEEDED, detail),
                NoRelaunch(f"cost cap: the {what} cap {dollars(cap)} was reached", Guard.COST_CAP),
            ]
    return []


def _warnings(run: RunFacts, policy: Policy, now: float) -> tuple[str, ...]:
    found: list[str] = []
    recent = run.progress[-(policy.stall_checks + 1) :]
    if (
        len(recent) == policy.stall_checks + 1
        and recent[-1] is not None
        and all(value == recent[-1] for value in recent)
    ):
        found.append(RunWarning.STALLED)
    if (
        run.expected_s is not None
        and run.started_at is not None
        and now - run.started_at > policy.timeout_factor * run.expected_s
    ):
        found.append(RunWarning.ON_HOLD)
    if run.nan_streak > 0:
        found.append(RunWarning.NAN)
    return tuple(found)


def _exited(run: RunFacts, obs: Observation, policy: Policy) -> list[Action]:
    if not run.logs_drained:  # every byte of the logs is mirrored before the run is called
        return []
    if obs.exit_code == 0:
        if run.artifacts is None:
            return [CheckArtifacts()]
        if run.artifacts.ok:
            detail = "exit 0; artifacts: " + ", ".join(run.artifacts.found)
            return [SetState(RunState.SUCCEEDED, detail), Notify(RunState.SUCCEEDED, detail)]
        if run.artifacts.missing:
            detail = "exit 0 but missing " + ", ".join(run.artifacts.missing)
        else:
            detail = f"exit 0 but the metrics JSON is unreadable: {run.artifacts.metrics_error}"
        failure = Failure(FailureClass.NO_ARTIFACTS, detail)
        return [
            SetState(RunState.FAILED, f"no-artifacts: {detail}", failure),
            Notify(RunState.FAILED, f"no-artifacts: {detail}"),
            _recovery(run, policy, FailureClass.NO_ARTIFACTS),
        ]
    failure = (
        Failure(obs.failure, obs.detail or obs.failure)
        if obs.failure
        else classify(obs.exit_code, run.anomalies)
    )
    code = "no exit code" if obs.exit_code is None else f"exit code {obs.exit_code}"
    in_setup = not obs.setup_done if obs.setup_done is not None else run.state == RunState.STARTING
    during = " during setup" if in_setup else ""
    detail = f"{failure.kind}: {code}{during}: {failure.line}"
    return [
        SetState(RunState.FAILED, detail, failure),
        Notify(RunState.FAILED, detail),
        _recovery(run, policy, failure.kind),
    ]


def classify(exit_code: int | None, anomalies: tuple[Anomaly, ...]) -> Failure:
    """The failure class of a run that exited non-zero, and the line that decided it: the
    most specific anomaly in the logs, else the signal it died of, else `unknown`."""
    for kind in CLASS_PRIORITY:
        found = _first(anomalies, kind) if kind != FailureClass.CRASH else _last(anomalies, kind)
        if found is not None:
            return found
    if exit_code is None:
        return Failure(FailureClass.KILLED, "the process was killed (no exit code)")
    died_of = death_signal(exit_code)
    if died_of in CRASH_SIGNALS:
        return Failure(
            FailureClass.CRASH, f"the process died of {died_of.name} (exit code {exit_code})"
        )
    if died_of is not None:
        return Failure(
            FailureClass.KILLED, f"the process was killed by {died_of.name} (exit code {exit_code})"
        )
    return Failure(FailureClass.UNKNOWN, f"exit code {exit_code} and no known error in the logs")


def _first(anomalies: tuple[Anomaly, ...], kind: str) -> Failure | None:
    for item in anomalies:
        if item.kind == kind:
            return Failure(kind, item.line, item.source, item.line_no)
    return None


def _last(anomalies: tuple[Anomaly, ...], kind: str) -> Failure | None:
    for item in reversed(anomalies):
        if item.kind == kind:
            return Failure(kind, item.line, item.source, item.line_no)
    return None


FAILURE_WORDS: dict[str, str] = {
    "oom": "running out of memory",
    "nan": "a loss gone NaN or infinite",
    "crash": "a crash",
    "killed": "a killed run",
    "infra": "an infrastructure failure",
    "preempted": "a preemption",
    "timeout": "a run past its time limit",
    "no-artifacts": "an exit without the success markers",
    "preflight": "a failed pre-flight",
    "unknown": "an unexplained failure",
}
"""What each failure class is, in words, for the reason a run was not relaunched."""


def _recovery(run: RunFacts, policy: Policy, failure_class: str) -> Relaunch | NoRelaunch:
    """Relaunch, or the first guard that holds it back (cost cap is handled by its rule)."""
    if failure_class not in policy.recover_on:
        what = FAILURE_WORDS.get(failure_class, f"a failure of class {failure_class}")
        listed = ", ".join(sorted(policy.recover_on)) or "nothing"
        return NoRelaunch(
            f"{what} is not relaunched automatically (recover.on in cockpit.toml lists what "
            f"is: {listed})",
            Guard.NOT_RECOVERABLE,
        )
    if run.attempt >= policy.max_attempts:
        return NoRelaunch(
            f"attempts exhausted ({run.attempt} of {policy.max_attempts})",
            Guard.ATTEMPTS_EXHAUSTED,
        )
    if run.monitor_only:
        return NoRelaunch("skip list: auto-recover is not used (monitor only)", Guard.MONITOR_ONLY)
    if run.plan_state in ("paused", "stopped"):
        return NoRelaunch(f"plan state is {run.plan_state}", Guard.PLAN_STATE)
    delay = policy.backoff_s * 2 ** (run.attempt - 1)
    return Relaunch(delay, f"{failure_class}: attempt {run.attempt + 1} of {policy.max_attempts}")
