"""`cockpit.toml`: the project's settings, validated, with a docstring under every field.

Values come from `cockpit.toml` in the project directory, overridden by `COCKPIT_*` environment
variables (nested keys with `__`, e.g. `COCKPIT_SUPERVISOR__POLL_SECONDS=0.5`). A bad file never
half-loads: `ConfigError` names the file, the key and what is wrong.
"""

from __future__ import annotations

import fnmatch
import json
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Annotated, Any, Literal

from cockpit.core.config_backends import BackendConfig, LocalBackendConfig, NonNegative, Positive
from cockpit.core.settings import Range, SettingsError, validate

CONFIG_FILE = "cockpit.toml"


class ConfigError(Exception):
    """A config file that cannot be used; the message names file, key and problem."""


@dataclass(kw_only=True)
class MetricsConfig:
    """How metric samples are read from train lines."""

    patterns: list[str] = field(default_factory=list)
    """Extra regular expressions tried on every train line; each must have the named groups
    `key` and `value`, or name the metric with its group name (e.g. `acc=(?P<accuracy>[\\d.]+)`)."""
    progress_key: str = "step"
    """The metric that counts progress (the x axis, and what "stalled" watches)."""
    loss_key: str = "loss"
    """The metric shown as the loss sparkline."""
    val_key: str | None = None
    """The validation metric for its sparkline; None picks the first `val_*`/`eval_*` seen."""

    @staticmethod
    def check_patterns(patterns: list[str]) -> list[str]:
        import re

        for pattern in patterns:
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern {pattern!r} is not a valid regex: {exc}") from exc
            if not compiled.groupindex:
                raise ValueError(f"pattern {pattern!r} has no named group")
        return patterns


@dataclass(kw_only=True)
class SupervisorConfig:
    """The background process that runs health rules and mirrors logs."""

    poll_seconds: Annotated[float, Range(gt=0, le=60)] = 1.0
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


@dataclass(kw_only=True)
class HealthConfig:
    """The health rules that watch every run."""

    poll_seconds: Positive = 60.0
    """How often a health check looks at progress (stall detection counts these checks)."""
    stall_checks: Annotated[int, Range(ge=1)] = 2
    """Consecutive checks without progress in the progress metric before a run is `stalled`
    (a warning, never a stop)."""
    stop_on_nan: bool = True
    """Stop a run whose loss has been NaN or infinite for `nan_patience` samples in a row."""
    nan_patience: Annotated[int, Range(ge=1)] = 3
    """How many NaN/inf loss samples in a row count as a diverged run."""
    expected_minutes: Annotated[float | None, Range(gt=0)] = None
    """How long a run should take; a hypothesis's `(expected: 90m)` overrides it, and without
    either the last successful run of the same plan sets it."""
    timeout_factor: Annotated[float, Range(gt=1)] = 2.0
    """A run past this many times its expected duration is put `on-hold` (a warning)."""
    stop_on_timeout: bool = False
    """Also stop a run that is on hold for running too long (failure class `timeout`)."""


@dataclass(kw_only=True)
class CostConfig:
    """Money: caps are hard limits, enforced by the supervisor even with no UI open."""

    run_cap: Annotated[float | None, Range(gt=0)] = None
    """Dollars one run may cost; at the cap it is stopped, terminated and never relaunched."""
    plan_cap: Annotated[float | None, Range(gt=0)] = None
    """Dollars all runs of one plan may cost together."""
    total_steps: Annotated[int | None, Range(gt=0)] = None
    """A run's total steps, for ETA and projected cost (a `total_steps` metric overrides it)."""


@dataclass(kw_only=True)
class RecoverConfig:
    """Auto-recover: which failures are relaunched, and how often."""

    on: list[FailureClass] = field(
        default_factory=lambda: list[FailureClass](["infra", "preempted", "killed"])
    )
    """Failure classes that are relaunched (same spec, same commit)."""
    max_attempts: Annotated[int, Range(ge=1)] = 2
    """Attempts in all, the first one included."""
    backoff_seconds: NonNegative = 30.0
    """Wait before the first relaunch; doubled for each further one."""


@dataclass(kw_only=True)
class PreflightConfig:
    """Checks before any launch; a failing step stops the launch before anything is billed."""

    smoke: str | None = None
    """A quick end-to-end command (one episode, a few steps); skipped when the skip list
    says so. Placeholders as in `command`."""
    tests: str | None = None
    """The test command; skipped when the skip list says so."""
    remote: str = "origin"
    """The git remote a remote backend's commit must be pushed to."""
    require_pushed: bool = True
    """Refuse a remote launch of a commit that is not on `remote` (so anyone can reproduce
    it); off, an unpushed commit is uploaded as a `git archive`."""
    timeout_seconds: Positive = 900.0
    """The longest a smoke or test command may take."""


@dataclass(kw_only=True)
class NotifyConfig:
    """Where state changes are announced besides the UI."""

    command: str | None = None
    """A command run for every notable event, with the event as JSON on stdin."""
    tmux: bool = True
    """Inside tmux, also show the event with `tmux display-message`."""


@dataclass(kw_only=True)
class ArtifactsConfig:
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


@dataclass(kw_only=True)
class PlanOverride:
    """Settings for the plans whose path matches `match` (plans differ by case)."""

    match: str
    """A glob matched against the plan's path relative to the project."""
    command: str | None = None
    """The run command for these plans."""
    setup: str | None = None
    """The setup command for these plans."""
    success_markers: list[str] | None = None
    """The success markers for these plans."""


@dataclass(kw_only=True)
class CockpitConfig:
    """Everything cockpit reads from `cockpit.toml` (field docstrings: `docgen.field_docs`)."""

    plans: str = "hypotheses.md"
    """The plan file, or a glob of them (e.g. `docs/experiment/*/*/hypotheses.md`)."""
    command: str = "python train.py --hypothesis {hypothesis}"
    """The training command; `{hypothesis}`, `{run_id}`, `{commit}` and `{run_dir}` are
    filled in."""
    setup: str | None = None
    """A command run before training (installs, data pulls); its output is the onstart source."""
    success_markers: list[str] = field(default_factory=lambda: ["best.pt", "metrics.json"])
    """Files that must exist after exit 0 for success; relative to the run directory."""
    default_backend: str = "local"
    """The backend a launch uses when none is named."""
    backends: dict[str, BackendConfig] = field(
        default_factory=lambda: dict[str, BackendConfig](local=LocalBackendConfig())
    )
    """Named backends, e.g. `[backends.local] kind = "local"`."""
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    """How metrics are parsed from train lines."""
    supervisor: SupervisorConfig = field(default_factory=SupervisorConfig)
    """The supervisor process's timing."""
    health: HealthConfig = field(default_factory=HealthConfig)
    """Health rules."""
    cost: CostConfig = field(default_factory=CostConfig)
    """Cost caps and projections."""
    recover: RecoverConfig = field(default_factory=RecoverConfig)
    """Auto-recover policy."""
    preflight: PreflightConfig = field(default_factory=PreflightConfig)
    """Pre-flight checks before a launch."""
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    """Notifications outside the UI."""
    artifacts: ArtifactsConfig = field(default_factory=ArtifactsConfig)
    """An artifact store for markers, metrics JSON, checkpoints and uploaded logs."""
    max_parallel: Annotated[int, Range(ge=1)] = 1
    """Active runs allowed per plan at once (concurrent launches double GPU spend)."""
    keys: dict[str, str] = field(default_factory=dict)
    """Key binding overrides: binding id to keys, e.g. `launch = "L"` or `stop = "x,ctrl+x"`."""
    plan_overrides: list[PlanOverride] = field(default_factory=list)
    """Per-plan command, setup and markers, first match wins."""
    theme: str = "cockpit-dark"
    """The colour theme."""

    @staticmethod
    def check_keys(keys: dict[str, str]) -> dict[str, str]:
        from cockpit.core.binding_ids import BINDING_IDS

        for binding_id, value in keys.items():
            if binding_id not in BINDING_IDS:
                raise ValueError(
                    f"unknown binding id {binding_id!r} (known: {', '.join(BINDING_IDS)})"
                )
            if not value.strip():
                raise ValueError(f"binding {binding_id!r} has no key")
        return keys

    @staticmethod
    def check_command(command: str) -> str:
        try:
            command.format(hypothesis="H", run_id="r", commit="c", run_dir="d")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"unknown placeholder {exc} (known: hypothesis, run_id, commit, run_dir)"
            ) from exc
        return command

    def for_plan(self, plan_rel: str) -> tuple[str, str | None, list[str]]:
        """The command, setup and markers that apply to the plan at `plan_rel`."""
        for override in self.plan_overrides:
            if fnmatch.fnmatch(plan_rel, override.match):
                return (
                    override.command or self.command,
                    override.setup if override.setup is not None else self.setup,
                    override.success_markers or self.success_markers,
                )
        return self.command, self.setup, self.success_markers


def load_config(project: Path) -> CockpitConfig:
    """Load `cockpit.toml` from `project` (defaults if there is none) plus the environment."""
    path = project / CONFIG_FILE
    values: dict[str, Any] = {}
    if path.exists():
        try:
            values = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not valid UTF-8 ({exc.reason})") from exc
    from_env = {}  # dotted key -> the environment variable that set it
    for name, raw in sorted(os.environ.items()):
        if (key := _overlay_env(values, name, raw)) is not None:
            from_env[key] = name
    try:
        config = validate(CockpitConfig, values)
    except SettingsError as exc:
        raise ConfigError(
            "\n".join(_where(path, key, from_env) + message for key, message in exc.problems)
        ) from exc
    if config.default_backend not in config.backends:
        raise ConfigError(
            f"{path}: key 'default_backend': backend {config.default_backend!r} is not defined "
            f"under [backends] (defined: {', '.join(sorted(config.backends)) or 'none'})"
        )
    return config


ENV_PREFIX = "COCKPIT_"
_TOP_LEVEL = frozenset(setting.name for setting in fields(CockpitConfig))


def _where(path: Path, key: str, from_env: dict[str, str]) -> str:
    """Where a bad value came from: the file, or the environment variable that set it."""
    for set_key, name in from_env.items():
        if key == set_key or key.startswith(set_key + "."):
            return f"environment variable {name} (key '{key}'): "
    return f"{path}: key '{key}': "


def _overlay_env(values: dict[str, Any], name: str, raw: str) -> str | None:
    """`COCKPIT_SUPERVISOR__POLL_SECONDS=0.5` sets `supervisor.poll_seconds` over the file.

    Names are matched without regard to case; only top-level fields count (a trainer's
    `COCKPIT_RUN_DIR` is not a setting). A value that starts with `[` or `{` is JSON; any
    other stays a string for `cockpit.core.settings` to convert.
    """
    if not name.upper().startswith(ENV_PREFIX):
        return None
    path = name[len(ENV_PREFIX) :].lower().split("__")
    if path[0] not in _TOP_LEVEL or not all(path):
        return None
    value: Any = raw
    if raw.lstrip()[:1] in ("[", "{"):
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise ConfigError(f"environment variable {name}: not valid JSON: {exc}") from exc
    target = values
    for key in path[:-1]:
        child = target.get(key)
        if not isinstance(child, dict):
            child = target[key] = {}
        target = child
    target[path[-1]] = value
    return ".".join(path)
