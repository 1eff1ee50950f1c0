"""`cockpit.toml`: the project's settings, validated, with a docstring under every field.

Values come from `cockpit.toml` in the project directory, overridden by `COCKPIT_*` environment
variables (nested keys with `__`, e.g. `COCKPIT_SUPERVISOR__POLL_SECONDS=0.5`). A bad file never
half-loads: `ConfigError` names the file, the key and what is wrong, every problem at once.

The tables are pydantic models; this module (and so pydantic) is imported only where config is
validated: `cockpit status --tmux` and `cockpit runs --json` never load it.
"""

from __future__ import annotations

import fnmatch
import json
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator

from cockpit.core.config_backends import (
    PLACED_KINDS,
    BackendConfig,
    LocalBackendConfig,
    NonNegative,
    PoolBackendConfig,
    Table,
)
from cockpit.core.config_errors import problems_of
from cockpit.core.config_tables import (
    ArtifactsConfig,
    CostConfig,
    HealthConfig,
    LoopConfig,
    MetricsConfig,
    NotifyConfig,
    PlanOverride,
    PreflightConfig,
    RecoverConfig,
    SupervisorConfig,
)

CONFIG_FILE = "cockpit.toml"


class ConfigError(Exception):
    """A config file that cannot be used; the message names file, key and problem."""


class CockpitConfig(Table):
    """Everything cockpit reads from `cockpit.toml`."""

    plans: str = "hypotheses.md"
    """The plan file, or a glob of them (e.g. `docs/experiment/*/*/hypotheses.md`)."""
    command: str = "python train.py --hypothesis {hypothesis}"
    """The training command; `{hypothesis}`, `{run_id}`, `{commit}` and `{run_dir}` are
    filled in."""
    setup: str | None = None
    """A command run before training (installs, data pulls); its output is the onstart source."""
    success_markers: list[str] = Field(default_factory=lambda: ["best.pt", "metrics.json"])
    """Files that must exist after exit 0 for success; relative to the run directory."""
    default_backend: str = "local"
    """The backend a launch uses when none is named."""
    backends: dict[str, BackendConfig] = Field(
        default_factory=lambda: dict[str, BackendConfig](local=LocalBackendConfig())
    )
    """Named backends, e.g. `[backends.local] kind = "local"`."""
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    """How metrics are parsed from train lines."""
    supervisor: SupervisorConfig = Field(default_factory=SupervisorConfig)
    """The supervisor process's timing."""
    health: HealthConfig = Field(default_factory=HealthConfig)
    """Health rules."""
    cost: CostConfig = Field(default_factory=CostConfig)
    """Cost caps and projections."""
    recover: RecoverConfig = Field(default_factory=RecoverConfig)
    """Auto-recover policy."""
    preflight: PreflightConfig = Field(default_factory=PreflightConfig)
    """Pre-flight checks before a launch."""
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    """Notifications outside the UI."""
    artifacts: ArtifactsConfig = Field(default_factory=ArtifactsConfig)
    """An artifact store for markers, metrics JSON, checkpoints and uploaded logs."""
    loop: LoopConfig = Field(default_factory=LoopConfig)
    """Loop mode's hooks and stop rule."""
    max_parallel: Annotated[int, Field(ge=1)] = 1
    """Runs allowed per plan at once, queued ones included (concurrent runs multiply GPU
    spend); placement on free GPUs comes on top of it."""
    gpus_per_run: Annotated[int, Field(ge=0)] = 1
    """GPUs a run asks for on a backend cockpit places runs on (a hypothesis may say
    `(gpus: 2)`). On hosts without GPUs runs take a slot instead."""
    min_free_vram_gb: NonNegative | None = None
    """Free memory a run asks of each of its GPUs, in GB (memory other processes use counts)."""
    keys: dict[str, str] = Field(default_factory=dict)
    """Key binding overrides: binding id to keys, e.g. `launch = "L"` or `stop = "x,ctrl+x"`."""
    plan_overrides: list[PlanOverride] = Field(default_factory=list)
    """Per-plan command, setup and markers, first match wins."""
    theme: str = "cockpit-dark"
    """The colour theme."""

    @field_validator("keys")
    @classmethod
    def check_keys(cls, keys: dict[str, str]) -> dict[str, str]:
        from cockpit.core.binding_ids import BINDING_IDS

        for binding_id, value in keys.items():
            if binding_id not in BINDING_IDS:
                raise ValueError(
                    f"unknown binding id {binding_id!r} (known: {', '.join(BINDING_IDS)})"
                )
            if not value.strip():
                raise ValueError(f"binding {binding_id!r} has no key")
        return keys

    @field_validator("command")
    @classmethod
    def check_command(cls, command: str) -> str:
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

    def enforced_rules(self) -> dict[str, Any]:
        """What the UIs show as "enforced" (`meta.enforced`): caps, health and recover policy,
        max_parallel."""
        return {
            "cost": self.cost.model_dump(),
            "health": self.health.model_dump(),
            "recover": {**self.recover.model_dump(), "on": list(self.recover.on)},
            "max_parallel": self.max_parallel,
        }


SCHEMA_URL = "https://json-schema.org/draft/2020-12/schema"


def config_schema() -> dict[str, Any]:
    """The JSON Schema of cockpit.toml, from the models (descriptions are the docstrings)."""
    from cockpit.core.config_docs import describe

    schema = describe(CockpitConfig.model_json_schema(), CockpitConfig)
    return {"$schema": SCHEMA_URL, **schema, "title": "cockpit.toml"}


def load_config(project: Path, path: Path | None = None) -> CockpitConfig:
    """Load `cockpit.toml` from `project` (or the file at `path`; defaults if there is none)
    plus the environment."""
    path = project / CONFIG_FILE if path is None else path
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
        config = CockpitConfig.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(
            "\n".join(_where(path, key, from_env) + message for key, message in problems_of(exc))
        ) from None
    for name, settings in config.backends.items():
        if isinstance(settings, PoolBackendConfig):
            for member in settings.pool:
                kind = getattr(config.backends.get(member), "kind", None)
                if kind not in PLACED_KINDS:
                    what = "is not defined" if kind is None else f"is a {kind} backend"
                    raise ConfigError(
                        f"{path}: key 'backends.{name}.pool': {member!r} {what} "
                        "(a pool's members are local or ssh backends)"
                    )
    if config.default_backend not in config.backends:
        raise ConfigError(
            f"{path}: key 'default_backend': backend {config.default_backend!r} is not defined "
            f"under [backends] (defined: {', '.join(sorted(config.backends)) or 'none'})"
        )
    return config


ENV_PREFIX = "COCKPIT_"
_TOP_LEVEL = frozenset(CockpitConfig.model_fields)


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
    other stays a string for the model to convert.
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
