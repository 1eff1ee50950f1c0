"""Health rules as one pure function: `decide(run, observation, policy, now) -> actions`.

The supervisor gathers facts (what the backend observed, whether the logs are fully mirrored,
which success markers were found) and executes whatever this returns. No I/O happens here, so
every rule is a row in a table-driven test with a fake clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from backends.base import Observation, RunPhase


@dataclass(frozen=True)
class RunFacts:
    """What the supervisor knows about a run besides the backend's observation."""

    state: str
    logs_drained: bool = False
    """Every log source was mirrored to its end (the streams finished)."""
    artifacts: ArtifactCheck | None = None
    """Result of looking for the success markers; None until looked for."""
    stopping: bool = False
    """A stop was requested and is being carried out: the exit is not a failure."""


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
class Policy:
    success_markers: tuple[str, ...] = ("best.pt", "metrics.json")


@dataclass(frozen=True)
class SetState:
    state: str
    detail: str = ""


@dataclass(frozen=True)
class CheckArtifacts:
    """Fetch the success markers and decide again with the result."""


@dataclass(frozen=True)
class Notify:
    kind: str
    message: str


Action = SetState | CheckArtifacts | Notify


@dataclass(frozen=True)
class Decision:
    actions: list[Action] = field(default_factory=list)


def decide(run: RunFacts, obs: Observation, policy: Policy, now: float) -> list[Action]:
    """The actions a run needs now. `now` is passed in so tests can fix the clock."""
    del now  # the five-state rules need no clock yet; timeouts and stalls will
    if run.state not in ("starting", "running") or run.stopping:
        return []
    if obs.phase is RunPhase.UNKNOWN:
        return []
    if obs.phase is RunPhase.SETUP:
        return []
    if obs.phase is RunPhase.TRAINING:
        if run.state == "starting":
            return [SetState("running", "training started"), Notify("running", "training started")]
        return []
    # Exited: wait until every byte of the logs is mirrored before calling it.
    if not run.logs_drained:
        return []
    if obs.exit_code is None:
        detail = "the process ended without an exit code (killed from outside?)"
        return [SetState("failed", detail), Notify("failed", detail)]
    if obs.exit_code != 0:
        detail = f"exited with code {obs.exit_code}"
        return [SetState("failed", detail), Notify("failed", detail)]
    if run.artifacts is None:
        return [CheckArtifacts()]
    if run.artifacts.ok:
        detail = "exit 0; artifacts: " + ", ".join(run.artifacts.found)
        return [SetState("succeeded", detail), Notify("succeeded", detail)]
    if run.artifacts.missing:
        detail = "no-artifacts: exit 0 but missing " + ", ".join(run.artifacts.missing)
    else:
        detail = f"no-artifacts: metrics JSON unreadable: {run.artifacts.metrics_error}"
    return [SetState("failed", detail), Notify("failed", detail)]
