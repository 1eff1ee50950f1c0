"""One supervisor per project: an OS lock on `.cockpit/supervisor.lock`.

`flock` dies with the process that holds it, so a crashed supervisor never leaves a stale lock;
the file's text (pid, host, start time) is only there for people and `cockpit status`.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from pathlib import Path


class SupervisorLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, wait_s: float = 1.0) -> bool:
        """Take the lock; False when another process holds it for `wait_s`.

        The short wait covers clients that peek at the lock (`is_held_elsewhere`) just then.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return False
                time.sleep(0.02)
        os.ftruncate(fd, 0)
        os.write(
            fd,
            f"pid={os.getpid()} host={socket.gethostname()} started={time.time():.3f}\n".encode(),
        )
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def is_held_elsewhere(self) -> bool:
        """True when some process (not this object) holds the lock right now."""
        if not self.path.exists():
            return False
        fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def holder(self) -> dict[str, str]:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return {}
        return dict(part.split("=", 1) for part in text.split() if "=" in part)


def supervisor_alive(lock: Path) -> bool:
    """Some process holds the project's supervisor lock: the one probe every client uses."""
    try:
        return SupervisorLock(lock).is_held_elsewhere()
    except OSError:
        return False
