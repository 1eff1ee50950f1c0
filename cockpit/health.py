"""Health rules as one pure function: `decide(run, observation, policy, now) -> actions`.

The supervisor gathers facts (what the backend observed, whether the logs are fully mirrored,
which success markers were found, the anomalies seen in the logs, cost and progress) and executes
whatever this returns. No I/O happens here, so every rule is a row in a table-driven test with a
fixed clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from backends.base import Observation, RunPhase

# Which anomaly decides a failure when several were seen: the most specific first.
CLASS_PRIORITY = ("oom", "nan", "killed", "infra", "crash")
KILLED_EXIT_CODES = frozenset({137, 143, -9, -15})


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
    state: str
    detail: str = ""
    failure: Failure | None = None


@dataclass(frozen=True)
class StopAndTerminate:
    """Stop the run now, verify it is gone, then set `state`."""

    state: str
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


@dataclass(frozen=True)
class Notify:
    kind: str
    message: str


Action = SetState | StopAndTerminate | SetWarnings | CheckArtifacts | Relaunch | NoRelaunch | Notify


def decide(run: RunFacts, obs: Observation, policy: Policy, now: float) -> list[Action]:
    """The actions a run needs now."""
    if run.state not in ("starting", "running") or run.stopping:
        return []
    capped = _cap_rule(run)
    if capped:
        return capped
    if obs.phase is RunPhase.UNKNOWN:
        return []
    if obs.phase is RunPhase.EXITED:
        return _exited(run, obs, policy)
    actions: list[Action] = []
    if obs.phase is RunPhase.TRAINING and run.state == "starting":
        actions += [SetState("running", "training started"), Notify("running", "training started")]
    if run.nan_streak >= policy.nan_patience and policy.stop_on_nan:
        failure = _first(run.anomalies, "nan") or Failure("nan", "loss is NaN or infinite")
        detail = f"loss NaN/inf for {run.nan_streak} samples in a row: stopped"
        return [
            StopAndTerminate("failed", detail, failure),
            Notify("failed", detail),
            _recovery(run, policy, "nan"),
        ]
    warnings = _warnings(run, policy, now)
    if "on-hold" in warnings and policy.stop_on_timeout:
        detail = "ran longer than its timeout: stopped"
        return [
            StopAndTerminate("failed", detail, Failure("timeout", detail)),
            Notify("failed", detail),
            _recovery(run, policy, "timeout"),
        ]
    if warnings != run.warnings:
        actions.append(SetWarnings(warnings))
        for warning in warnings:
            if warning not in run.warnings:
                actions.append(Notify(warning, _WARNING_TEXT[warning]))
    return actions


_WARNING_TEXT = {
    "stalled": "no progress in the progress metric for several checks",
    "on-hold": "running longer than expected (on hold)",
    "nan": "loss is NaN or infinite",
}


def _cap_rule(run: RunFacts) -> list[Action]:
    for cap, spent, what in (
        (run.cap, run.cost_so_far, "run"),
        (run.plan_cap, run.plan_cost, "plan"),
    ):
        if cap is not None and spent >= cap:
            detail = f"cost ${spent:.2f} reached the {what} cap ${cap:.2f}: stopped and terminated"
            return [
                StopAndTerminate("cap-exceeded", detail),
                Notify("cap-exceeded", detail),
                NoRelaunch(f"cost cap: the {what} cap ${cap:.2f} was reached"),
            ]
    return []


def _warnings(run: RunFacts, policy: Policy, now: float) -> tuple[str, ...]:
    found = []
    recent = run.progress[-(policy.stall_checks + 1) :]
    if (
        len(recent) == policy.stall_checks + 1
        and recent[-1] is not None
        and all(value == recent[-1] for value in recent)
    ):
        found.append("stalled")
    if (
        run.expected_s is not None
        and run.started_at is not None
        and now - run.started_at > policy.timeout_factor * run.expected_s
    ):
        found.append("on-hold")
    if run.nan_streak > 0:
        found.append("nan")
    return tuple(found)


def _exited(run: RunFacts, obs: Observation, policy: Policy) -> list[Action]:
    if not run.logs_drained:  # every byte of the logs is mirrored before the run is called
        return []
    if obs.exit_code == 0:
        if run.artifacts is None:
            return [CheckArtifacts()]
        if run.artifacts.ok:
            detail = "exit 0; artifacts: " + ", ".join(run.artifacts.found)
            return [SetState("succeeded", detail), Notify("succeeded", detail)]
        if run.artifacts.missing:
            detail = "exit 0 but missing " + ", ".join(run.artifacts.missing)
        else:
            detail = f"exit 0 but the metrics JSON is unreadable: {run.artifacts.metrics_error}"
        failure = Failure("no-artifacts", detail)
        return [
            SetState("failed", f"no-artifacts: {detail}", failure),
            Notify("failed", f"no-artifacts: {detail}"),
            _recovery(run, policy, "no-artifacts"),
        ]
    failure = (
        Failure(obs.failure, obs.detail or obs.failure)
        if obs.failure
        else classify(obs.exit_code, run.anomalies)
    )
    code = "no exit code" if obs.exit_code is None else f"exit code {obs.exit_code}"
    during = " during setup" if run.state == "starting" else ""
    detail = f"{failure.kind}: {code}{during}: {failure.line}"
    return [
        SetState("failed", detail, failure),
        Notify("failed", detail),
        _recovery(run, policy, failure.kind),
    ]


def classify(exit_code: int | None, anomalies: tuple[Anomaly, ...]) -> Failure:
    """The failure class of a run that exited non-zero, and the line that decided it."""
    for kind in CLASS_PRIORITY:
        found = _first(anomalies, kind) if kind != "crash" else _last(anomalies, kind)
        if found is not None:
            return found
    if exit_code is None or exit_code in KILLED_EXIT_CODES:
        what = "no exit code" if exit_code is None else f"exit code {exit_code}"
        return Failure("killed", f"the process was killed ({what})")
    return Failure("unknown", f"exit code {exit_code} and no known error in the logs")


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


def _recovery(run: RunFacts, policy: Policy, failure_class: str) -> Relaunch | NoRelaunch:
    """Relaunch, or the first guard that holds it back (cost cap is handled by its rule)."""
    if failure_class not in policy.recover_on:
        return NoRelaunch(
            f"failure class {failure_class} is not in recover.on "
            f"({', '.join(sorted(policy.recover_on)) or 'empty'})"
        )
    if run.attempt >= policy.max_attempts:
        return NoRelaunch(f"attempts exhausted ({run.attempt} of {policy.max_attempts})")
    if run.monitor_only:
        return NoRelaunch("skip list: auto-recover is not used (monitor only)")
    if run.plan_state in ("paused", "stopped"):
        return NoRelaunch(f"plan state is {run.plan_state}")
    delay = policy.backoff_s * 2 ** (run.attempt - 1)
    return Relaunch(delay, f"{failure_class}: attempt {run.attempt + 1} of {policy.max_attempts}")
