"""The project's git state: what commit a run starts from and which files differ from it.

Runs are reproducible only if we know their code. These run `git` in the folder they are
handed; the UI calls them from a worker thread, never on its event loop.
"""

from __future__ import annotations

import re
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


def run_git(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=project, capture_output=True, text=True, timeout=30, check=False
    )


_RESULT_FILE = re.compile(r"iter\d+_result\.md")


def dirty_files(project: Path, plan_pattern: str = "hypotheses.md") -> list[str] | None:
    """Tracked files with uncommitted changes, except the plan files and result files cockpit
    writes itself (they do not change what a run executes); None outside a git repository."""
    try:
        result = run_git(project, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    plan_name = Path(plan_pattern).name
    files = [line[3:] for line in result.stdout.splitlines() if line.strip()]
    return [
        name
        for name in files
        if Path(name).name != plan_name and not _RESULT_FILE.fullmatch(Path(name).name)
    ]


def in_repository(project: Path) -> bool:
    """`project` is inside a git work tree (by its `.git`, so this works without git)."""
    return any((folder / ".git").exists() for folder in (project, *project.parents))
