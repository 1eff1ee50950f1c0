"""Whether the disk under `.cockpit` has room left: asked of the filesystem, so every process
knows it without writing anything (the supervisor cannot record it in the store then)."""

from __future__ import annotations

import os
from pathlib import Path

DISK_LOW_BYTES = 1 << 20
"""Below this much room under `.cockpit`, mirrors and the store cannot be trusted to write."""


def disk_full(state: Path) -> bool:
    """Whether the disk under `.cockpit` (the `state` folder) is (nearly) full."""
    try:
        found = os.statvfs(state if state.exists() else state.parent)
    except OSError:
        return False
    return found.f_bavail * found.f_frsize < DISK_LOW_BYTES
