"""What every client (UI, CLI) does to get something done: make sure a supervisor runs, write a
request row, and follow it to its outcome. Clients never touch a backend."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable

from cockpit.core.paths import ProjectPaths
from cockpit.core.protocol import OPEN_REQUESTS
from cockpit.core.records import Request
from cockpit.store.reader import StoreReader
from cockpit.store.sqlite_file import StoreError
from cockpit.store.supervisor_lock import supervisor_alive


def supervisor_running(paths: ProjectPaths) -> bool:
    return supervisor_alive(paths.lock)


def unwritable(paths: ProjectPaths) -> str | None:
    """Why cockpit cannot keep its state in this project (a read-only directory or disk),
    or None when it can."""
    probe = paths.state / f".write-test-{os.getpid()}"
    try:
        paths.state.mkdir(parents=True, exist_ok=True)
        probe.touch()
        probe.unlink()
    except OSError as exc:
        return (
            f"cannot write to {paths.state}: {exc.strerror or exc}. cockpit keeps its store, "
            "log mirrors and supervisor there: make the project writable, or look without "
            "writing with `cockpit watch`"
        )
    return None


def ensure_supervisor(paths: ProjectPaths) -> bool:
    """Start `cockpit supervise` detached if none holds the project's lock; True if started.
    A project it cannot write to raises `StoreError` saying so."""
    if supervisor_running(paths):
        return False
    if (problem := unwritable(paths)) is not None:
        raise StoreError(problem)
    with open(paths.supervisor_log, "ab") as log_file:
        subprocess.Popen(
            [sys.executable, "-m", "cockpit", "supervise", "--project", str(paths.project)],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            cwd=paths.project,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    return True


def client_name(kind: str) -> str:
    return f"{kind}:{os.getpid()}@{os.uname().nodename}"


def wait_for_request(
    reader: StoreReader,
    request_id: str,
    timeout_s: float = 60.0,
    interval_s: float = 0.05,
    paths: ProjectPaths | None = None,
    progress: Callable[[], None] | None = None,
) -> Request:
    """Poll until the supervisor has finished the request (or the timeout passes). With
    `paths`, a supervisor that is gone meanwhile is started again (as every client does);
    `progress` is called about once a second meanwhile (to say what is going on)."""
    deadline = time.monotonic() + timeout_s
    checked = told = time.monotonic()
    while True:
        request = reader.request(request_id)
        if request is None:
            raise LookupError(f"request {request_id} vanished")
        if request.status not in OPEN_REQUESTS:
            return request
        now = time.monotonic()
        if now >= deadline:
            return request
        if paths is not None and now - checked >= 2.0:
            checked = now
            ensure_supervisor(paths)
        if progress is not None and now - told >= 1.0:
            told = now
            progress()
        time.sleep(interval_s)
