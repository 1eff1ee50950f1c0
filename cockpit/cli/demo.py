"""`cockpit demo`: a small real experiment to try cockpit on, with no cloud account."""

from __future__ import annotations

import shutil
import subprocess
from importlib import resources
from pathlib import Path

DEMO_FILES = ("hypotheses.md", "cockpit.toml", "setup.sh", "train.py")


def create_demo(target: Path) -> bool:
    """Write the demo project into `target` unless it is already there; True if created.

    The project is made a git repository with one commit (when git is installed), so runs
    record a real commit.
    """
    if (target / "hypotheses.md").exists() and (target / "cockpit.toml").exists():
        return False
    target.mkdir(parents=True, exist_ok=True)
    source = resources.files("cockpit.cli") / "demo_files"
    for name in DEMO_FILES:
        (target / name).write_bytes((source / name).read_bytes())
    (target / ".gitignore").write_text(".cockpit/\n__pycache__/\n")
    if shutil.which("git") and not (target / ".git").exists():
        identity = ["-c", "user.name=cockpit demo", "-c", "user.email=demo@cockpit.invalid"]
        for command in (
            ["git", "init", "-q"],
            ["git", "add", "."],
            ["git", *identity, "commit", "-q", "-m", "cockpit demo experiment"],
        ):
            subprocess.run(command, cwd=target, check=False, capture_output=True)
    return True
