"""Two things users expect to do with the run on screen, outside the cockpit: copy its id and
open its directory. Both read-only, so watch mode has them too."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from textual.screen import Screen

from cockpit.core.records import RunRecord


def copy_run_id(screen: Screen[Any], run: RunRecord | None) -> None:
    """OSC 52 (Textual's `copy_to_clipboard`: works over SSH where the terminal allows it);
    inside tmux also its paste buffer and, through tmux, the terminal's clipboard."""
    if run is None:
        screen.notify("no run on screen to copy", severity="warning")
        return
    screen.app.copy_to_clipboard(run.id)
    where = "clipboard (OSC 52)"
    if os.environ.get("TMUX") and shutil.which("tmux"):
        screen.run_worker(
            lambda: _quietly(["tmux", "load-buffer", "-w", "-"], run.id),
            thread=True, group="copy", exit_on_error=False,
        )  # fmt: skip
        where += " and tmux's paste buffer"
    screen.notify(f"copied {run.id} to the {where}")


def open_run_dir(screen: Screen[Any], run: RunRecord | None, directory: Path) -> None:
    """Open the run's directory in the desktop's file manager when there is a desktop; say
    where it is in any case (over SSH there is none: the path is what helps)."""
    if run is None:
        screen.notify("no run on screen", severity="warning")
        return
    opener = _opener()
    if opener is not None and directory.is_dir():
        screen.run_worker(
            lambda: _quietly([opener, str(directory)]), thread=True, group="open",
            exit_on_error=False,
        )  # fmt: skip
        screen.notify(f"opening {directory}")
    else:
        screen.notify(f"{run.id}: {directory}", timeout=15)


def _opener() -> str | None:
    if sys.platform == "darwin":
        return shutil.which("open")
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return shutil.which("xdg-open")
    return None


def _quietly(command: list[str], stdin: str | None = None) -> None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(
            command, input=stdin, text=True, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, timeout=10, check=False,
        )  # fmt: skip
