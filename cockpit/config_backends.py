"""The `[backends.NAME]` tables of cockpit.toml: one model per backend kind."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

BACKEND_KINDS = {"local", "ssh", "runpod"}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")  # field docstrings: `docgen.field_docs`


class LocalBackendConfig(_Section):
    """A backend that runs on this machine as a process group."""

    kind: Literal["local"] = "local"
    """Which kind of backend this is."""
    cost_per_hour: float = Field(default=0.0, ge=0)
    """What an hour of this machine costs you, in dollars (0 for your own machine)."""
    gpu_interval_seconds: float = Field(default=5.0, gt=0)
    """How often the gpu source samples NVML."""


class SshBackendConfig(_Section):
    """A host reached over SSH (a lab server, a rented box)."""

    kind: Literal["ssh"]
    """Which kind of backend this is."""
    host: str
    """The host name or a `Host` alias of ~/.ssh/config (aliases are honoured)."""
    port: int | None = Field(default=None, gt=0, lt=65536)
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
    env: dict[str, str] = Field(default_factory=dict)
    """Extra environment for runs on this host."""
    setup: str | None = None
    """A setup command for this host instead of the project's `setup`."""
    cost_per_hour: float = Field(default=0.0, ge=0)
    """What an hour of this host costs you, in dollars."""
    gpu_interval_seconds: float = Field(default=5.0, gt=0)
    """How often the gpu source samples `nvidia-smi`."""
    connect_timeout_seconds: float = Field(default=15.0, gt=0)
    """How long a connection attempt may take."""


class RunPodBackendConfig(_Section):
    """GPU pods on RunPod: provisioned per run, reached over SSH, terminated at the end."""

    kind: Literal["runpod"]
    """Which kind of backend this is."""
    gpu_type: str
    """RunPod's GPU type id, e.g. "NVIDIA H100 80GB HBM3"."""
    gpu_count: int = Field(default=1, ge=1)
    """GPUs per pod."""
    cloud_type: Literal["SECURE", "COMMUNITY", "ALL"] = "SECURE"
    """Which RunPod cloud to take the GPU from."""
    image: str = "runpod/pytorch:2.4.0-py3.11-cuda12.4.1-devel-ubuntu22.04"
    """The container image."""
    container_disk_gb: int = Field(default=20, ge=1)
    """The container disk in GB."""
    volume_gb: int = Field(default=0, ge=0)
    """A volume in GB mounted at /workspace (it bills even while the pod is stopped)."""
    env: dict[str, str] = Field(default_factory=dict)
    """Environment for the pod and the run (never put secrets in cockpit.toml)."""
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
    setup: str | None = None
    """A setup command for pods instead of the project's `setup`."""
    start_timeout_seconds: float = Field(default=900.0, gt=0)
    """How long a pod may take to offer SSH before it is terminated and the launch fails."""
    gpu_interval_seconds: float = Field(default=5.0, gt=0)
    """How often the gpu source samples `nvidia-smi`."""
    api_timeout_seconds: float = Field(default=30.0, gt=0)
    """How long one RunPod API request may take."""


def _backend_kind(value: object) -> str:
    """The `kind` of a backend table; a table without one is `local`."""
    if isinstance(value, dict):
        return str(value.get("kind", "local"))
    return str(getattr(value, "kind", "local"))


BackendConfig = Annotated[
    Annotated[LocalBackendConfig, Tag("local")]
    | Annotated[SshBackendConfig, Tag("ssh")]
    | Annotated[RunPodBackendConfig, Tag("runpod")],
    Discriminator(_backend_kind),
]
