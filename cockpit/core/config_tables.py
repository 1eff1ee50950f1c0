"""The sub-tables of `cockpit.toml` (`[metrics]`, `[supervisor]`, `[health]`, `[cost]`,
`[recover]`, `[preflight]`, `[notify]`, `[artifacts]`, `[loop]`, `[[plan_overrides]]`): one
pydantic model each. The root table and loading the file are `cockpit.core.config`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from cockpit.core.config_backends import Flag, NonNegative, Positive, Table


class MetricsConfig(Table):
    """How metric samples are read from train lines."""

    patterns: list[str] = Field(default_factory=list)
    """Extra regular expressions tried on every train line; each must have the named groups
    `key` and `value`, or name the metric with its group name (e.g. `acc=(?P<accuracy>[\\d.]+)`)."""
    progress_key: str = "step"
    """The metric that counts progress (the x axis, and what "stalled" watches)."""
    loss_key: str = "loss"
    """The metric shown as the loss sparkline."""
    val_key: str | None = None
    """The validation metric for its sparkline; None picks the first `val_*`/`eval_*` seen."""

    @field_validator("patterns")
    @classmethod
    def check_patterns(cls, patterns: list[str]) -> list[str]:
        import re

        for pattern in patterns:
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern {pattern!r} is not a valid regex: {exc}") from exc
            if not compiled.groupindex:
                raise ValueError(f"pattern {pattern!r} has no named group")
        return patterns


class SupervisorConfig(Table):
    """The background process that runs health rules and mirrors logs."""

    poll_seconds: Annotated[float, Field(gt=0, le=60)] = 1.0
    """How often runs are observed and requests are picked up."""
    idle_exit_seconds: NonNegative = 120.0
    """The supervisor exits after this long with no active run and no pending request."""
    stop_grace_seconds: NonNegative = 10.0
    """Time between SIGTERM and SIGKILL when stopping a run."""


FailureClass = Literal[
    "oom",
    "nan",
    "crash",
    "killed",
    "infra",
    "preempted",
    "timeout",
    "no-artifacts",
    "preflight",
    "unknown",
]


class HealthConfig(Table):
    """The health rules that watch every run."""

    poll_seconds: Positive = 60.0
    """How often a health check looks at progress (stall detection counts these checks)."""
    stall_checks: Annotated[int, Field(ge=1)] = 2
    """Consecutive checks without progress in the progress metric before a run is `stalled`
    (a warning, never a stop)."""
    stop_on_nan: Flag = True
    """Stop a run whose loss has been NaN or infinite for `nan_patience` samples in a row."""
    nan_patience: Annotated[int, Field(ge=1)] = 3
    """How many NaN/inf loss samples in a row count as a diverged run."""
    expected_minutes: Annotated[float | None, Field(gt=0)] = None
    """How long a run should take; a hypothesis's `(expected: 90m)` overrides it, and without
    either the last successful run of the same plan sets it."""
    timeout_factor: Annotated[float, Field(gt=1)] = 2.0
    """A run past this many times its expected duration is put `on-hold` (a warning)."""
    stop_on_timeout: Flag = False
    """Also stop a run that is on hold for running too long (failure class `timeout`)."""


class CostConfig(Table):
    """Money: caps are hard limits, enforced by the supervisor even with no UI open."""

    run_cap: Annotated[float | None, Field(gt=0)] = None
    """Dollars one run may cost; at the cap it is stopped, terminated and never relaunched."""
    plan_cap: Annotated[float | None, Field(gt=0)] = None
    """Dollars all runs of one plan may cost together."""
    total_steps: Annotated[int | None, Field(gt=0)] = None
    """A run's total steps, for ETA and projected cost (a `total_steps` metric overrides it)."""


class RecoverConfig(Table):
    """Auto-recover: which failures are relaunched, and how often."""

    on: list[FailureClass] = Field(
        default_factory=lambda: list[FailureClass](["infra", "preempted", "killed"])
    )
    """Failure classes that are relaunched (same spec, same commit)."""
    max_attempts: Annotated[int, Field(ge=1)] = 2
    """Attempts in all, the first one included."""
    backoff_seconds: NonNegative = 30.0
    """Wait before the first relaunch; doubled for each further one."""


class PreflightConfig(Table):
    """Checks before any launch; a failing step stops the launch before anything is billed."""

    smoke: str | None = None
    """A quick end-to-end command (one episode, a few steps); skipped when the skip list
    says so. Placeholders as in `command`."""
    tests: str | None = None
    """The test command; skipped when the skip list says so."""
    remote: str = "origin"
    """The git remote a remote backend's commit must be pushed to."""
    require_pushed: Flag = True
    """Refuse a remote launch of a commit that is not on `remote` (so anyone can reproduce
    it); off, an unpushed commit is uploaded as a `git archive`."""
    timeout_seconds: Positive = 900.0
    """The longest a smoke or test command may take."""


class NotifyConfig(Table):
    """Where state changes are announced besides the UI."""

    command: str | None = None
    """A command run for every notable event, with the event as JSON on stdin."""
    tmux: Flag = True
    """Inside tmux, also show the event with `tmux display-message`."""


class ArtifactsConfig(Table):
    """Where training code puts its artifacts besides the run directory (optional)."""

    kind: Literal["none", "s3"] = "none"
    """`s3` for any S3-compatible store; `none` uses the run directory only."""
    bucket: str | None = None
    """The bucket (required for s3)."""
    prefix: str = "cockpit"
    """Objects go to `<prefix>/<run_id>/` (`COCKPIT_ARTIFACTS_URI` tells the run)."""
    endpoint_url: str | None = None
    """For an S3-compatible store other than AWS."""
    region: str | None = None
    """The bucket's region; unset uses the AWS configuration chain."""


class LoopConfig(Table):
    """Loop mode (`cockpit loop start`): the hooks an agent plugs in, and when a loop pauses."""

    plan_command: str | None = None
    """Run before each tick (e.g. an agent that writes `iter<N>_plan.md`, edits code, commits,
    may add a hypothesis or set the plan to `paused`); `{plan}`, `{iter}` and the `command`
    placeholders are filled in. A non-zero exit skips that tick; the plan is read again after."""
    analysis_command: str | None = None
    """Run after each run's write-back (it may fill the log row's analysis column or tick the
    hypothesis); same placeholders."""
    hook_timeout_seconds: Positive = 1800.0
    """The longest a hook may take; it is ended then (a plan hook's tick is skipped)."""
    ui_max_ticks: Annotated[int | None, Field(ge=1)] = None
    """The maximum of ticks of a loop started with the interactive cockpit's key (None: until
    the list is consumed; `cockpit loop start --max N` says it per loop)."""
    pause_after_rejections: Annotated[int, Field(ge=1)] = 3
    """Rejected verdicts in a row after which the loop pauses the plan (rethink the
    hypotheses)."""


class PlanOverride(Table):
    """Settings for the plans whose path matches `match` (plans differ by case)."""

    match: str
    """A glob matched against the plan's path relative to the project."""
    command: str | None = None
    """The run command for these plans."""
    setup: str | None = None
    """The setup command for these plans."""
    success_markers: list[str] | None = None
    """The success markers for these plans."""
    gpus_per_run: Annotated[int, Field(ge=0)] | None = None
    """GPUs each run of these plans asks for."""
    min_free_vram_gb: NonNegative | None = None
    """Free GPU memory each run of these plans asks of each of its GPUs, in GB."""
