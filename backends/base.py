"""The contract every compute backend implements, and the plain data it exchanges.

The supervisor is the only caller. It hands a backend a `RunSpec`, keeps the `RunHandle` it gets
back in the store (so a restarted supervisor can re-attach), asks `observe` about all of the
backend's runs in one call, and pumps `stream` into the local mirror from the stored byte offset.
Capability differences are flags on the class, never `isinstance` checks in callers.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from backends.gpu_inventory import GpuInfo


class LogSource(enum.StrEnum):
    """The three log sources every run has."""

    TRAIN = "train"
    """The training command's stdout and stderr."""
    ONSTART = "onstart"
    """Environment setup: the setup command's output (and, remotely, code transfer)."""
    GPU = "gpu"
    """GPU samples, one CSV line each, in nvidia-smi's `--query-gpu` column order."""


class RunPhase(enum.StrEnum):
    """Where a run's process is, as the backend sees it."""

    SETUP = "setup"
    """The setup command runs (the run is `starting`)."""
    TRAINING = "training"
    """The training command runs (the run is `running`)."""
    EXITED = "exited"
    """The process group is gone; `exit_code` says how it ended (None: killed, no code)."""
    UNKNOWN = "unknown"
    """The backend cannot tell right now (host unreachable); never a reason to fail a run."""


# Runs on this machine and on an SSH host (a pod included) live under the same wrapper
# (`backends/wrapper.py`): it writes `exit_code` when the command returns and touches
# `training` when setup is done. The backends read those facts their own way (files here, one
# shell script there) and judge them with these two functions, so they cannot disagree.


def run_phase(exit_code: int | None, wrapper_alive: bool, training: bool) -> RunPhase:
    """The phase of a wrapped run: exited once the command returned or the wrapper is gone."""
    if exit_code is not None or not wrapper_alive:
        return RunPhase.EXITED
    return RunPhase.TRAINING if training else RunPhase.SETUP


def streams_end(exit_recorded: bool, wrapper_alive: bool, group_alive: bool) -> bool:
    """Whether a wrapped run's logs can end: its command returned (a worker it orphaned does
    not hold the end back), or the wrapper is gone *and* nothing of its process group still
    writes (a trainer in its SIGTERM handler outlives the wrapper, still writing its last
    words)."""
    return exit_recorded or (not wrapper_alive and not group_alive)


@dataclass(frozen=True)
class RunSpec:
    """Everything needed to start one run; the same spec relaunches the same run."""

    run_id: str
    hypothesis: str
    plan: str
    command: str
    """The training command, placeholders already filled in."""
    setup: str | None
    """The setup command (its output is the onstart source), or None."""
    workdir: str
    """The directory the commands run in (the project, or its checkout on a remote host)."""
    commit: str
    env: Mapping[str, str] = field(default_factory=dict)
    """Extra environment; `COCKPIT_RUN_ID` and `COCKPIT_RUN_DIR` are added by the backend."""
    success_markers: tuple[str, ...] = ("best.pt", "metrics.json")
    """Paths that must exist after exit 0; relative ones resolve against the run directory."""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["env"] = dict(self.env)
        data["success_markers"] = list(self.success_markers)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunSpec:
        values = dict(data)
        values["success_markers"] = tuple(values.get("success_markers", ()))
        values["env"] = dict(values.get("env", {}))
        return cls(**values)


@dataclass(frozen=True)
class RunHandle:
    """What a backend needs to find a run again, even from a new supervisor process.

    Stored as JSON in the run's row; `data` is backend-specific (pid and start time, pod id...).
    """

    run_id: str
    backend: str
    run_dir: str
    """The run directory on the backend's host (`COCKPIT_RUN_DIR` of the run)."""
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "backend": self.backend,
            "run_dir": self.run_dir,
            "data": dict(self.data),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunHandle:
        return cls(
            run_id=data["run_id"],
            backend=data["backend"],
            run_dir=data["run_dir"],
            data=dict(data.get("data", {})),
        )


@dataclass(frozen=True)
class Observation:
    """One look at one run."""

    phase: RunPhase
    exit_code: int | None = None
    uptime_s: float = 0.0
    """Billed time so far, in seconds."""
    cost_per_hour: float = 0.0
    """The billed rate right now, in dollars per hour."""
    detail: str = ""
    """A short human line (why the phase is unknown, what the host said)."""
    failure: str | None = None
    """A failure class the backend itself knows (e.g. `preempted`), for an exited run."""
    gpu_util: float | None = None
    """GPU utilisation in percent as the provider reports it (mean over the run's GPUs)."""
    gpu_mem: float | None = None
    """GPU memory use in percent as the provider reports it."""
    still_billing: bool = False
    """The run's process is gone but its resource still bills (a stopped pod's volume) until
    it is terminated."""
    storage_per_hour: float = 0.0
    """What that resource bills meanwhile, in dollars per hour (added to the run's cost for
    the time it is seen so, on top of the compute it was billed)."""
    waiting: str = ""
    """For a live run: what it waits for, said as its detail while it lasts (a Slurm job's
    `pending in the queue (waiting: Priority)`); '' when it waits for nothing."""
    setup_done: bool | None = None
    """For an exited run: whether its setup had finished (the training command started);
    None where the backend cannot tell. A run can start training and fail between two polls,
    so the run's last seen state does not say this."""


class SourceReset(Exception):
    """Raised by `stream` when the run's own log was truncated or replaced: what it delivered
    stays delivered; the caller asks again from offset 0 (of the new file)."""


@dataclass(frozen=True)
class RemoteResource:
    """Something running or billing on a backend, for orphan detection (`cockpit ps`)."""

    backend: str
    resource_id: str
    run_id: str | None
    age_s: float
    cost_per_hour: float = 0.0
    detail: str = ""


class Backend(ABC):
    """A place where runs execute. One instance per configured backend name."""

    kind: ClassVar[str]
    """The `kind` of the backend in cockpit.toml."""
    is_remote: ClassVar[bool] = False
    """Runs elsewhere: the commit must be pushed before launch (pre-flight)."""
    bills: ClassVar[bool] = False
    """Creates resources that cost money by themselves (pods); orphans matter most."""
    places_runs: bool = False
    """Its runs are placed by cockpit on the host's GPUs or slots (this machine, an SSH host;
    `gpu_inventory` answers). A pod or a Slurm job brings its own GPUs: never placed."""

    def __init__(self, name: str) -> None:
        self.name = name

    @abstractmethod
    def run_dir(self, run_id: str) -> str:
        """The run directory on the backend's host: `COCKPIT_RUN_DIR` and `{run_dir}`."""

    @abstractmethod
    async def launch(self, spec: RunSpec) -> RunHandle:
        """Start the run. Idempotent on `spec.run_id`: a second call finds the first run."""

    @abstractmethod
    async def observe(self, handles: Sequence[RunHandle]) -> dict[str, Observation]:
        """Look at every given run in one go; keys are run ids."""

    @abstractmethod
    def stream(self, handle: RunHandle, source: LogSource, offset: int) -> AsyncIterator[bytes]:
        """Yield the source's bytes from `offset` on; ends once the run has exited and all
        bytes were delivered, or sooner when the source can never have more (the GPU source
        of a host without a GPU, after it said so). Raises `SourceReset` when the log was
        truncated or replaced under the run."""

    @abstractmethod
    async def stop(self, handle: RunHandle, grace_s: float) -> None:
        """Stop AND terminate the run: TERM, KILL after `grace_s`, verified gone."""

    async def gpu_inventory(self) -> list[GpuInfo]:
        """The host's GPUs now (memory, processes, utilisation), for placement and the GPU
        view; an empty list when it has none. Raises when it cannot be asked."""
        raise NotImplementedError(f"{self.kind} backends do not report GPUs")

    @abstractmethod
    async def list_billed(self) -> list[RemoteResource]:
        """Everything this backend runs or bills for cockpit, known to the store or not."""

    @abstractmethod
    async def fetch_artifacts(
        self, handle: RunHandle, markers: Sequence[str], dest: Path
    ) -> list[Path]:
        """Copy the run's marker files into `dest`; return the local paths that exist."""

    async def end_leftovers(self, run_id: str) -> bool:
        """A launch failed without a handle, but may have created something billed (a create
        that answered an error after it went through): end whatever exists for `run_id`.
        True once it is verified that nothing does; False means look again later."""
        return True

    def standing_alerts(self) -> dict[str, str]:
        """Conditions the user must act on while they last (a refused API key, a changed host
        key), by a key stable while the condition lasts."""
        return {}

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the default has none."""
