"""One SSH connection per host, shared by every run and log source on it, reconnected with
backoff when it drops. Host-key problems are refused with a message naming the host; they are
never retried or auto-accepted."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncssh

KEEPALIVE_S = 10.0
KEEPALIVE_COUNT = 3


class HostKeyError(Exception):
    """The host's key is unknown or changed: refused, with the host named."""


class HostUnreachable(Exception):
    """No connection to the host right now (it may come back)."""


class SshHost:
    def __init__(
        self,
        name: str,
        host: str,
        port: int | None = None,
        username: str | None = None,
        client_keys: Sequence[str | Path] | None = None,
        known_hosts: Any = None,
        connect_timeout: float = 15.0,
    ) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.username = username
        self.client_keys = [str(key) for key in client_keys] if client_keys else None
        self.known_hosts = known_hosts
        """A known_hosts file path, asyncssh's trusted-keys tuple, or None for the user's."""
        self.connect_timeout = connect_timeout
        self.home: str | None = None
        self.unreachable_since: float | None = None
        self.last_error = ""
        self.key_error: str | None = None
        """Why the host's key is refused, while it is (an alert the user must act on)."""
        self._conn: asyncssh.SSHClientConnection | None = None
        self._lock = asyncio.Lock()
        self._delay = 0.5
        self._next_attempt = 0.0

    def describe(self) -> str:
        port = f":{self.port}" if self.port else ""
        return f"{self.name} ({self.username + '@' if self.username else ''}{self.host}{port})"

    async def connection(self) -> asyncssh.SSHClientConnection:
        async with self._lock:
            if self._conn is not None and not self._conn.is_closed():
                return self._conn
            if time.monotonic() < self._next_attempt:
                raise HostUnreachable(f"{self.describe()} unreachable: {self.last_error}")
            options: dict[str, Any] = {
                "connect_timeout": self.connect_timeout,
                # A host that stops answering without closing (hung, SIGSTOPped, a dead NAT
                # entry) is noticed within KEEPALIVE_S * KEEPALIVE_COUNT, not at TCP's pace.
                "keepalive_interval": KEEPALIVE_S,
                "keepalive_count_max": KEEPALIVE_COUNT,
            }
            if self.port:
                options["port"] = self.port
            if self.username:
                options["username"] = self.username
            if self.client_keys:
                options["client_keys"] = self.client_keys
            if self.known_hosts is not None:
                options["known_hosts"] = self.known_hosts
            try:
                conn = await asyncssh.connect(self.host, **options)
            except asyncssh.HostKeyNotVerifiable as exc:
                self._failed(str(exc))
                where = self.known_hosts if isinstance(self.known_hosts, str) else "known_hosts"
                entry = f"[{self.host}]:{self.port}" if self.port and self.port != 22 else self.host
                self.key_error = (
                    f"host key of {self.describe()} is not trusted (unknown or changed): check "
                    f"the line for {entry} in {where}; cockpit never accepts a host key by itself"
                )
                raise HostKeyError(self.key_error) from exc
            except asyncssh.PermissionDenied as exc:
                self._failed(f"permission denied: {exc.reason}")
                raise HostUnreachable(f"{self.describe()}: permission denied") from exc
            except (OSError, asyncssh.Error, TimeoutError) as exc:
                self._failed(str(exc) or type(exc).__name__)
                raise HostUnreachable(f"{self.describe()} unreachable: {self.last_error}") from exc
            self._conn = conn
            self.key_error = None
            self._delay = 0.5
            self.unreachable_since = None
            self.last_error = ""
            if self.home is None:
                result = await conn.run('printf %s "$HOME"', check=False)
                self.home = str(result.stdout or "").strip() or "/"
            return conn

    def _failed(self, error: str) -> None:
        self.last_error = error
        if self.unreachable_since is None:
            self.unreachable_since = time.time()
        self._next_attempt = time.monotonic() + self._delay
        self._delay = min(self._delay * 2, 30.0)

    def broken(self, error: BaseException) -> None:
        """A channel failed: drop the connection so the next use reconnects."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._failed(str(error) or type(error).__name__)
        self._next_attempt = 0.0  # reconnect at once the first time; backoff after that

    async def run(self, script: str, timeout: float = 120.0) -> str:
        """Run a shell script (sent on stdin to `sh -s`); its stdout, or an error."""
        conn = await self.connection()
        try:
            result = await asyncio.wait_for(
                conn.run("sh -s", input=script, check=False), timeout=timeout
            )
        except (OSError, asyncssh.Error, TimeoutError) as exc:
            self.broken(exc)
            raise HostUnreachable(f"{self.describe()}: {exc or type(exc).__name__}") from exc
        if result.exit_status not in (0, None):
            stderr = str(result.stderr or "").strip()
            raise RuntimeError(
                f"{self.describe()}: remote command failed ({result.exit_status}): {stderr}"
            )
        return str(result.stdout or "")

    def resolve(self, path: str) -> str:
        """`~/x` to an absolute path on the host."""
        if path == "~" or path.startswith("~/"):
            return (self.home or "/").rstrip("/") + path[1:]
        return path

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()
            with contextlib.suppress(TimeoutError, asyncssh.Error, OSError):
                await asyncio.wait_for(conn.wait_closed(), 5)  # a dead peer must not hang us
