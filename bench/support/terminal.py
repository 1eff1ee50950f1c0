"""A program in a private tmux server's 160x48 window: its pid, its screen, its CPU time."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


class Terminal:
    def __init__(self, command: list[str], env: dict[str, str] | None = None) -> None:
        self.socket = f"bench-{uuid.uuid4().hex[:8]}"
        line = " ".join(_quote(part) for part in command)
        prefix = " ".join(f"{key}={_quote(value)}" for key, value in (env or {}).items())
        self.tmux("new-session", "-d", "-s", "b", "-x", "160", "-y", "48", f"{prefix} {line}")
        self.pid = int(self.tmux("display", "-p", "-t", "b", "#{pane_pid}").strip())

    def tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=True
        ).stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "b")

    def wait_screen(self, predicate: Callable[[str], bool], timeout: float = 60.0) -> float:
        """Seconds until the screen satisfies `predicate` (polled every 10 ms)."""
        started = time.perf_counter()
        while not predicate(self.screen()):
            if time.perf_counter() - started > timeout:
                raise TimeoutError(self.screen())
            time.sleep(0.01)
        return time.perf_counter() - started

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)
