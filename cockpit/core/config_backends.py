"""The `[backends.NAME]` tables of cockpit.toml: one model per backend kind."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

from cockpit.core.settings import Range, Tagged

BACKEND_KINDS = {"local", "ssh", "runpod"}

# Field docstrings are read from this source by `docgen.field_docs`.
NonNegative = Annotated[float, Range(ge=0)]
Positive = Annotated[float, Range(gt=0)]


@dataclass(kw_only=True)
class LocalBackendConfig:
    """A backend that runs on this machine as a process group."""

    kind: Literal["local"] = "local"
    """Which kind of backend this is."""
    cost_per_hour: NonNegative = 0.0
    """What an hour of this machine costs you, in dollars (0 for your own machine)."""
    gpu_interval_seconds: Positive = 5.0
    """How often the gpu source samples NVML."""


@dataclass(kw_only=True)
class SshBackendConfig:
    """A host reached over SSH (a lab server, a rented box)."""

    kind: Literal["ssh"]
    """Which kind of backend this is."""
    host: str
    """The host name or a `Host` alias of ~/.ssh/config (aliases are honoured)."""
    port: Annotated[int | None, Range(gt=0, lt=65536)] = None
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
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment for runs on this host."""
    setup: str | None = None
    """A setup command for this host instead of the project's `setup`."""
    cost_per_hour: NonNegative = 0.0
    """What an hour of this host costs you, in dollars."""
    gpu_interval_seconds: Positive = 5.0
    """How often the gpu source samples `nvidia-smi`."""
    connect_timeout_seconds: Positive = 15.0
    """How long a connection attempt may take."""


@dataclass(kw_only=True)
class RunPodBackendConfig:
    """GPU pods on RunPod: provisioned per run, reached over SSH, terminated at the end."""

    kind: Literal["runpod"]
    """Which kind of backend this is."""
    gpu_type: str
    """RunPod's GPU type id, e.g. "NVIDIA H100 80GB HBM3"."""
    gpu_count: Annotated[int, Range(ge=1)] = 1
    """GPUs per pod."""
    cloud_type: Literal["SECURE", "COMMUNITY", "ALL"] = "SECURE"
    """Which RunPod cloud to take the GPU from."""
    image: str = "runpod/pytorch:2.4.0-py3.11-cuda12.4.1-devel-ubuntu22.04"
    """The container image."""
    container_disk_gb: Annotated[int, Range(ge=1)] = 20
    """The container disk in GB."""
    volume_gb: Annotated[int, Range(ge=0)] = 0
    """A volume in GB mounted at /workspace (it bills even while the pod is stopped)."""
    env: dict[str, str] = field(default_factory=dict)
    """Environment for the pod and the run (never put secrets in cockpit.toml)."""
    ports: list[str] = field(default_factory=lambda: ["22/tcp"])
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
    start_timeout_seconds: Positive = 900.0
    """How long a pod may take to offer SSH before it is terminated and the launch fails."""
    gpu_interval_seconds: Positive = 5.0
    """How often the gpu source samples `nvidia-smi`."""
    api_timeout_seconds: Positive = 30.0
    """How long one RunPod API request may take."""


BackendConfig = Annotated[
    LocalBackendConfig | SshBackendConfig | RunPodBackendConfig,
    Tagged("kind", default="local", what="backend kind"),
]
"""A `[backends.NAME]` table: its `kind` says which (a table without one is `local`)."""
