"""The one seam between cockpit.toml and the `backends` package: a configured backend name
becomes a `Backend` object here, and nowhere else.

The supervisor builds its backends with `make_backend` (it is the default `backend_factory` a
`Supervisor` is given); `cockpit ps` asks every configured backend what bills with
`billed_everywhere`, without starting or touching a supervisor. Backend modules are imported
only when a backend of their kind is configured, so a UI or CLI path that never asks about
backends never pays for asyncssh or httpx.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cockpit.core.config import CockpitConfig
from cockpit.core.config_backends import (
    PLACED_KINDS,
    LocalBackendConfig,
    RunPodBackendConfig,
    SlurmBackendConfig,
    SshBackendConfig,
)
from cockpit.core.paths import ProjectPaths

if TYPE_CHECKING:
    from backends.base import Backend, RemoteResource


@dataclass
class Billing:
    """What every configured backend says bills right now, and which ones could not be asked."""

    resources: list[RemoteResource] = field(default_factory=list)
    unanswered: dict[str, str] = field(default_factory=dict)
    """Backend name -> why it could not be asked (one unreachable backend hides no other)."""


def machine_backends(config: CockpitConfig) -> list[str]:
    """The configured backends that are a `Backend` of their own (a pool is only names)."""
    return [name for name, settings in config.backends.items() if settings.kind != "pool"]


def placement_group(config: CockpitConfig, name: str) -> list[str] | None:
    """The hosts a run launched on backend `name` may be placed on, in order: a pool's members,
    or the backend itself when cockpit places runs there (local, ssh); None for backends whose
    runs bring their own GPUs (RunPod, Slurm) or an unknown name."""
    settings = config.backends.get(name)
    if settings is None:
        return None
    if settings.kind == "pool":
        return list(settings.pool)
    return [name] if settings.kind in PLACED_KINDS else None


async def billed_everywhere(config: CockpitConfig, paths: ProjectPaths) -> Billing:
    """Ask each configured backend for what it bills (`Backend.list_billed`), one at a time."""
    found = Billing()
    for name in machine_backends(config):
        try:
            backend = make_backend(name, config, paths)
        except Exception as exc:  # e.g. no API key: say so for this backend, ask the others
            found.unanswered[name] = f"{type(exc).__name__}: {exc}"
            continue
        try:
            found.resources.extend(await backend.list_billed())
        except Exception as exc:
            found.unanswered[name] = f"{type(exc).__name__}: {exc}"
        finally:
            await backend.close()
    return found


def make_backend(
    name: str, config: CockpitConfig, paths: ProjectPaths, clock: Callable[[], float] = time.time
) -> Backend:
    """The backend instance for a configured backend name (imported here: the UIs and the CLI
    read `ProjectPaths` without needing any backend)."""
    settings = config.backends[name]
    if isinstance(settings, LocalBackendConfig):
        from backends.local import LocalBackend

        return LocalBackend(
            name,
            runs_root=paths.runs,
            cost_per_hour=settings.cost_per_hour,
            gpu_interval_s=settings.gpu_interval_seconds,
            clock=clock,
            setup_once_per_commit=settings.setup_once_per_commit,
        )
    if isinstance(settings, SshBackendConfig):
        from backends.ssh import SshBackend, host_from_config

        return SshBackend(
            name,
            host_from_config(name, settings),
            paths.project,
            cost_per_hour=settings.cost_per_hour,
            setup_once_per_commit=settings.setup_once_per_commit,
            **_remote(settings, clock),
        )
    if isinstance(settings, SlurmBackendConfig):
        from backends.slurm import SlurmBackend, sbatch_args_from_config
        from backends.ssh import host_from_config

        return SlurmBackend(
            name,
            host_from_config(name, settings),
            paths.project,
            sbatch_args=sbatch_args_from_config(settings),
            cost_per_hour=settings.cost_per_hour,
            **_remote(settings, clock),
        )
    if isinstance(settings, RunPodBackendConfig):
        from pathlib import Path as _Path

        from backends.runpod import RunPodBackend
        from backends.runpod_api import RunPodApi, find_api_key

        pod = {
            "gpuTypeId": settings.gpu_type,
            "gpuCount": settings.gpu_count,
            "cloudType": settings.cloud_type,
            "imageName": settings.image,
            "containerDiskInGb": settings.container_disk_gb,
            "volumeInGb": settings.volume_gb,
            "volumeMountPath": "/workspace",
            "ports": ",".join(settings.ports),
            "templateId": settings.template_id,
        }
        return RunPodBackend(
            name,
            RunPodApi(find_api_key(), timeout_s=settings.api_timeout_seconds),
            pod,
            _Path(settings.ssh_identity_file).expanduser(),
            paths.project,
            ssh_user=settings.ssh_user,
            start_timeout_s=settings.start_timeout_seconds,
            poll_s=config.supervisor.poll_seconds,
            **_remote(settings, clock),
        )
    raise ValueError(f"backend {name!r}: unsupported kind")


def _remote(
    settings: SshBackendConfig | SlurmBackendConfig | RunPodBackendConfig,
    clock: Callable[[], float],
) -> dict[str, Any]:
    """What every backend on a host reached over SSH is given from its shared table."""
    return {
        "workdir": settings.workdir,
        "env": settings.env,
        "setup": settings.setup,
        "gpu_interval_s": settings.gpu_interval_seconds,
        "clock": clock,
    }
