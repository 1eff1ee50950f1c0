"""Where a project keeps its state: the store, the lock, the supervisor's log, the run mirrors.

Shared by the supervisor, the CLI and the UIs so every process agrees on paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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
