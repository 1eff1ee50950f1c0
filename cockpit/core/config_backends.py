"""The `[backends.NAME]` tables of cockpit.toml: one pydantic model per backend kind, and the
base every table of cockpit.toml shares (unknown keys refused; the docstring under each field
is its description in the JSON Schema and the generated reference)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag

BACKEND_KINDS = {"local", "ssh", "slurm", "runpod", "pool"}
PLACED_KINDS = {"local", "ssh"}
"""Backends whose runs cockpit places on GPUs (or slots); a pod or a Slurm job brings its own."""

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _flag(value: Any) -> Any:
    """TOML's booleans, and the words an environment variable says them with; `1` in TOML is a
    number, not a yes (pydantic's lax mode would take it)."""
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


class Table(BaseModel):
    """A table of cockpit.toml: unknown keys are errors (a typo must not pass silently). The
    docstring under each field is its description (read by `config_docs` when wanted)."""

    model_config = ConfigDict(extra="forbid")


Flag = Annotated[bool, BeforeValidator(_flag)]
NonNegative = Annotated[float, Field(ge=0)]
Positive = Annotated[float, Field(gt=0)]


class _PlacedHostConfig(Table):
    """What a host cockpit places runs on has (this machine, an SSH host): its GPUs or slots."""

    gpus: Literal["auto"] | list[Annotated[int, Field(ge=0)]] = "auto"
    """The GPUs runs are placed on: "auto" finds them (NVML here, `nvidia-smi` over SSH), or
    a list of indices, e.g. [0, 1]. A run gets `CUDA_VISIBLE_DEVICES` (and `COCKPIT_GPUS`)."""
    slots: Annotated[int, Field(ge=1)] = 1
    """Runs at once on a host without GPUs (the rest are queued)."""
    share_gpus: Flag = False
    """Let several cockpit runs share a GPU (memory permitting); off: one run per GPU."""
    setup_once_per_commit: Flag = False
    """Run the setup command once per commit on this host: once it passed, later runs of the
    same commit (and setup command) skip it (remembered in `.cockpit/setup-passed`). Off by
    default: a setup that installs into the run's own checkout must run for every run."""


class LocalBackendConfig(_PlacedHostConfig):
    """A backend that runs on this machine as a process group."""

    kind: Literal["local"] = "local"
    """Which kind of backend this is."""
    cost_per_hour: NonNegative = 0.0
    """What an hour of this machine costs you, in dollars (0 for your own machine)."""
    gpu_interval_seconds: Positive = 5.0
    """How often the gpu source samples NVML."""


class _RemoteBackendConfig(Table):
    """What every backend that runs on a host reached over SSH shares (an SSH host, a pod)."""

    env: dict[str, str] = Field(default_factory=dict)
    """Extra environment for runs there (never put secrets in cockpit.toml)."""
    setup: str | None = None
    """A setup command for this backend instead of the project's `setup`."""
    gpu_interval_seconds: Positive = 5.0
    """How often the gpu source samples `nvidia-smi`."""


class _SshHostConfig(_RemoteBackendConfig):
    """The keys of a host reached over SSH (an SSH backend's host, a Slurm login node)."""

    host: str
    """The host name or a `Host` alias of ~/.ssh/config (aliases are honoured)."""
    port: Annotated[int | None, Field(gt=0, lt=65536)] = None
    """The SSH port; unset uses ~/.ssh/config or 22."""
    user: str | None = None
    """The login user; unset uses ~/.ssh/config or your user name."""
    identity_file: str | None = None
    """A private key file; unset uses your agent and default keys."""
    known_hosts: str | None = None
    """A known_hosts file; unset uses ~/.ssh/known_hosts. Host keys are checked strictly."""
    workdir: str = "~"
    """The project's checkout on the host (its commits are used when present); runs live in
    `<workdir>/.cockpit/<run_id>`."""
    cost_per_hour: NonNegative = 0.0
    """What an hour of this host costs you, in dollars."""
    connect_timeout_seconds: Positive = 15.0
    """How long a connection attempt may take."""


class SshBackendConfig(_SshHostConfig, _PlacedHostConfig):
    """A host reached over SSH (a lab server, a rented box)."""

    kind: Literal["ssh"]
    """Which kind of backend this is."""


class SlurmBackendConfig(_SshHostConfig):
    """A Slurm cluster: jobs submitted with `sbatch` from its login node, reached over SSH
    (the SSH keys below are the login node's; `workdir` must be on the filesystem the compute
    nodes share with it). `env` is exported for cockpit's own Slurm commands too (e.g.
    `SLURM_CONF`)."""

    kind: Literal["slurm"]
    """Which kind of backend this is."""
    partition: str | None = None
    """`--partition`; unset: the cluster's default."""
    account: str | None = None
    """`--account`; unset: your default account."""
    qos: str | None = None
    """`--qos`; unset: the default QOS."""
    gpus: Annotated[int, Field(ge=0)] = 1
    """GPUs per job (`--gpus`); 0 asks for none."""
    cpus_per_task: Annotated[int, Field(ge=1)] | None = None
    """`--cpus-per-task`; unset: the cluster's default."""
    mem: str | None = None
    """`--mem`, e.g. "64G"; unset: the cluster's default."""
    time_limit: str | None = None
    """`--time`, e.g. "12:00:00"; a job past it ends as `timeout`."""
    sbatch_args: list[str] = Field(default_factory=list)
    """More `sbatch` arguments, passed through as given (e.g. ["--constraint=a100"])."""
    cost_per_hour: NonNegative = 0.0
    """What an hour of a running job of this shape costs you, in dollars (time pending in
    the queue is not billed)."""


class RunPodBackendConfig(_RemoteBackendConfig):
    """GPU pods on RunPod: provisioned per run, reached over SSH, terminated at the end."""

    kind: Literal["runpod"]
    """Which kind of backend this is."""
    gpu_type: str
    """RunPod's GPU type id, e.g. "NVIDIA H100 80GB HBM3"."""
    gpu_count: Annotated[int, Field(ge=1)] = 1
    """GPUs per pod."""
    cloud_type: Literal["SECURE", "COMMUNITY", "ALL"] = "SECURE"
    """Which RunPod cloud to take the GPU from."""
    image: str = "runpod/pytorch:2.4.0-py3.11-cuda12.4.1-devel-ubuntu22.04"
    """The container image."""
    container_disk_gb: Annotated[int, Field(ge=1)] = 20
    """The container disk in GB."""
    volume_gb: Annotated[int, Field(ge=0)] = 0
    """A volume in GB mounted at /workspace (it bills even while the pod is stopped)."""
    ports: list[str] = Field(default_factory=lambda: ["22/tcp"])
    """Exposed ports; `22/tcp` is always added."""
    template_id: str | None = None
    """A RunPod template to start from."""
    ssh_identity_file: str = "~/.ssh/id_ed25519"
    """Your private key; its public half goes to the pod as PUBLIC_KEY."""
    ssh_user: str = "root"
    """The pod's SSH user."""
    workdir: str = "/workspace"
    """Runs live in `<workdir>/.cockpit/<run_id>` on the pod."""
    start_timeout_seconds: Positive = 900.0
    """How long a pod may take to offer SSH before it is terminated and the launch fails."""
    api_timeout_seconds: Positive = 30.0
    """How long one RunPod API request may take."""


class PoolBackendConfig(Table):
    """Several hosts as one backend: a run goes to the first with room, in this order."""

    kind: Literal["pool"]
    """Which kind of backend this is."""
    pool: Annotated[list[str], Field(min_length=1)]
    """The member backends (local or ssh), by name, e.g. ["lab1", "lab2"]."""


def _kind_of(value: Any) -> str | None:
    if isinstance(value, dict):
        return str(value.get("kind", "local"))
    return getattr(value, "kind", None)


BackendConfig = Annotated[
    Annotated[LocalBackendConfig, Tag("local")]
    | Annotated[SshBackendConfig, Tag("ssh")]
    | Annotated[SlurmBackendConfig, Tag("slurm")]
    | Annotated[RunPodBackendConfig, Tag("runpod")]
    | Annotated[PoolBackendConfig, Tag("pool")],
    Discriminator(_kind_of),
]
"""A `[backends.NAME]` table: its `kind` says which (a table without one is `local`)."""
