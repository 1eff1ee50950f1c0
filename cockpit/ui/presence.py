"""Who else has this project open: each cockpit window keeps a small file in
`.cockpit/clients/` fresh (watch mode too: it never writes the store, only this file)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

STALE_S = 15.0


@dataclass(frozen=True)
class Attached:
    kind: str
    """interactive or watch."""
    pid: int
    host: str
    since: float


class Presence:
    def __init__(self, state_dir: Path, kind: str) -> None:
        self.folder = state_dir / "clients"
        self.kind = kind
        self.me = Attached(kind, os.getpid(), socket.gethostname(), time.time())
        self.path = self.folder / f"{self.me.host}-{self.me.pid}.json"

    def beat(self) -> None:
        """Say this window is still here (call every few seconds)."""
        with contextlib.suppress(OSError):
            self.folder.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_suffix(".tmp")
            temporary.write_text(json.dumps(self.me.__dict__))
            os.replace(temporary, self.path)

    def leave(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()

    def others(self, now: float | None = None) -> list[Attached]:
        now = time.time() if now is None else now
        found = []
        for path in sorted(self.folder.glob("*.json")) if self.folder.is_dir() else []:
            if path == self.path:
                continue
            try:
                if now - path.stat().st_mtime > STALE_S:
                    continue
                data = json.loads(path.read_text())
                other = Attached(data["kind"], int(data["pid"]), data["host"], data["since"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if other.host == self.me.host and not _alive(other.pid):
                continue
            found.append(other)
        return found


def _alive(pid: int) -> bool:
    """A process with this pid exists on this host (a window that crashed left its file)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process holds the pid
    return True
