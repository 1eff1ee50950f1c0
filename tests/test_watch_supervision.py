"""Watch mode while the supervisor is killed with SIGKILL: it says plainly that health rules
and the cost cap are not enforced, until `cockpit supervise` takes the lock again; the run then
completes with complete logs."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from textual.notifications import Notify

from cockpit.core.config import load_config
from cockpit.core.paths import ProjectPaths
from cockpit.core.protocol import LaunchRequest
from cockpit.store.reader import StoreReader
from cockpit.store.supervisor_lock import SupervisorLock
from cockpit.ui.app import CockpitApp
from cockpit.ui.screens.main import MainScreen
from cockpit.ui.screens.status_line import SupervisionChecked
from tests.conftest import wait_for
from tests.uihelp import MessageLog


def supervise(project: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "cockpit", "supervise", "--project", str(project),
         "--idle-exit", "30"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip


def gated_run(paths: ProjectPaths) -> tuple[StoreReader, str, Path]:
    """H4 launched under the supervisor that holds the lock, at its gate (step 99 mirrored)."""
    wait_for(SupervisorLock(paths.lock).is_held_elsewhere, what="the supervisor")
    client = StoreReader(paths.db)
    request = client.submit_request(LaunchRequest(hypothesis="H4"), "test")
    run_id = str(wait_for(lambda: (r := client.request(request)) and r.run_id))
    mirror = paths.mirror_log(run_id, "train")
    wait_for(lambda: mirror.exists() and '"step": 99,' in mirror.read_text(), what="steps")
    return client, run_id, mirror


async def test_watch_says_not_enforced_after_sigkill_and_recovers(project: Path) -> None:
    paths = ProjectPaths(project)
    first = supervise(project)
    second: subprocess.Popen[bytes] | None = None
    try:
        client, run_id, mirror = gated_run(paths)
        messages = MessageLog()
        app = CockpitApp(project, load_config(project), read_only=True)
        async with app.run_test(size=(160, 48), message_hook=messages.hook):
            screen = app.screen
            assert isinstance(screen, MainScreen) and screen.feed.read_only
            await messages.wait(SupervisionChecked, lambda m: m.enforced)
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
            await messages.wait(SupervisionChecked, lambda m: not m.enforced)
            line = str(screen.query_one("#status-line").render())
            assert "health rules and cost cap are NOT enforced since" in line
            assert "run `cockpit supervise`" in line
            assert not SupervisorLock(paths.lock).is_held_elsewhere()  # watch started none
            second = supervise(project)
            await messages.wait(SupervisionChecked, lambda m: m.enforced)
        run_dir = paths.runs / run_id / "run"
        (run_dir / "release").touch()
        (run_dir / "release2").touch()
        wait_for(lambda: client.run(run_id).state == "succeeded", what="the run")  # type: ignore[union-attr]
        assert mirror.read_bytes() == (run_dir / "train.log").read_bytes()
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait()


async def test_the_interactive_cockpit_restarts_a_killed_supervisor(project: Path) -> None:
    """The status line's check (`SupervisionChecked`) is what the interactive Controls act on:
    a supervisor killed while a run is active is started again from a worker thread, and the
    window says so; the run then completes under the new one."""
    paths = ProjectPaths(project)
    first = supervise(project)
    try:
        client, run_id, _ = gated_run(paths)
        messages = MessageLog()
        app = CockpitApp(project, load_config(project))
        async with app.run_test(size=(160, 48), message_hook=messages.hook):
            await messages.wait(SupervisionChecked, lambda m: m.enforced)
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
            gone = await messages.wait(SupervisionChecked, lambda m: not m.enforced)
            after = messages.messages.index(gone)
            await messages.wait(
                SupervisionChecked, lambda m: m.enforced and messages.messages.index(m) > after
            )
            assert SupervisorLock(paths.lock).is_held_elsewhere()
            said = await messages.wait(
                Notify, lambda m: "started a new one" in m.notification.message
            )
            assert said.notification.severity == "warning"
        run_dir = paths.runs / run_id / "run"
        (run_dir / "release").touch()
        (run_dir / "release2").touch()
        wait_for(lambda: client.run(run_id).state == "succeeded", what="the run")  # type: ignore[union-attr]
    finally:
        if first.poll() is None:
            first.terminate()
            first.wait()
        holder = SupervisorLock(paths.lock).holder().get("pid")
        if holder and holder.isdigit():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(holder), signal.SIGTERM)
