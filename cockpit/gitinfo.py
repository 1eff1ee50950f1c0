"""What commit a run starts from. Runs are reproducible only if we know their code."""

from __future__ import annotations

import subprocess
from pathlib import Path

NO_GIT = "no-git"


def head_commit(project: Path) -> str:
    """The HEAD commit of the repository holding `project`, or `no-git`."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return NO_GIT
    return result.stdout.strip() if result.returncode == 0 else NO_GIT
