"""Where a project keeps its state, and the backends its config names.

Shared by the supervisor, the CLI and the UIs so every process agrees on paths.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cockpit.config import CockpitConfig
from cockpit.config_backends import LocalBackendConfig, RunPodBackendConfig, SshBackendConfig

if TYPE_CHECKING:
    from backends.base import Backend


@dataclass(frozen=True)
class ProjectPaths:
    project: Path

    @property
    def state(self) -> Path:
        return self.project / ".cockpit"

    @property
    def db(self) -> Path:
        return self.state / "state.db"

    @property
    def lock(self) -> Path:
        return self.state / "supervisor.lock"

    @property
    def supervisor_log(self) -> Path:
        return self.state / "supervisor.log"

    @property
    def runs(self) -> Path:
        return self.state / "runs"

    def mirror(self, run_id: str) -> Path:
        return self.runs / run_id

    def mirror_log(self, run_id: str, source: str) -> Path:
        return self.runs / run_id / f"{source}.log"

    def artifacts(self, run_id: str) -> Path:
        return self.runs / run_id / "artifacts"


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
        )
    if isinstance(settings, SshBackendConfig):
        from backends.ssh import SshBackend, host_from_config

        return SshBackend(
            name,
            host_from_config(name, settings),
            paths.project,
            workdir=settings.workdir,
            env=settings.env,
            setup=settings.setup,
            cost_per_hour=settings.cost_per_hour,
            gpu_interval_s=settings.gpu_interval_seconds,
            clock=clock,
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
            workdir=settings.workdir,
            env=settings.env,
            setup=settings.setup,
            ssh_user=settings.ssh_user,
            start_timeout_s=settings.start_timeout_seconds,
            gpu_interval_s=settings.gpu_interval_seconds,
            clock=clock,
            poll_s=config.supervisor.poll_seconds,
        )
    raise ValueError(f"backend {name!r}: unsupported kind")
