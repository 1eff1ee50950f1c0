"""Process identity on Linux: a pid alone is reused, a pid plus its start time is not.

Used by the local backend to re-attach to a run from a new supervisor process and to verify
that a stopped process group is really gone (zombies do not count as alive).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

_PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name, or None if there is no such pid."""
    try:
        with open(f"/proc/{pid}/stat") as stat:  # not pathlib: polled often, 3x cheaper
            raw = stat.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    return raw[raw.rfind(")") + 2 :].split()


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (stat field 22), or None."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    return int(fields[19])


def is_alive(pid: int, started: int | None) -> bool:
    """True if `pid` runs, is not a zombie, and (when given) started at `started`."""
    fields = _stat_fields(pid)
    if fields is None:
        if not _PROC.is_dir():  # not Linux: fall back to a signal probe
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                return True
            return True
        return False
    if fields[0] in ("Z", "X"):
        reap(pid)
        return False
    return started is None or int(fields[19]) == started


def reap(pid: int) -> None:
    """Collect `pid`'s exit status if it is our child, so it stops being a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def group_alive(pgid: int) -> bool:
    """True while any non-zombie process belongs to process group `pgid`."""
    if not _PROC.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is None or fields[0] in ("Z", "X"):
            continue
        if int(fields[2]) == pgid:
            return True
    return False
