"""Waking the supervisor when a client writes a request, instead of having it ask the store ten
times a second (each asyncio wake-up is ~25 us of CPU here; ten a second were half of an idle
supervisor's budget).

A Linux abstract UNIX datagram socket named after the project's store: a client sends one byte
after it commits a request row; the supervisor listens. Nothing depends on it arriving: the
supervisor also looks for requests at every poll, so a lost nudge (no supervisor yet, another
OS, a second supervisor that could not bind) costs at most one poll interval. Standard library
only: the CLI paths import it.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import sys
from pathlib import Path


def address(db: Path) -> str:
    """The abstract socket name for the store at `db` (no path-length limit, no file)."""
    digest = hashlib.sha256(str(db.resolve()).encode()).hexdigest()[:32]
    return f"\0cockpit-wake-{digest}"


def available() -> bool:
    return sys.platform.startswith("linux")


def nudge(db: Path) -> None:
    """Tell the supervisor of `db` that a request is waiting; silently nothing if none listens."""
    if not available():
        return
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.sendto(b"w", address(db))
