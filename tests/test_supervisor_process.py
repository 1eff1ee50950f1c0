"""The real `cockpit supervise` process: killed with SIGKILL mid-run, started again, the run
finishes and the mirror holds every line exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from cockpit.core.paths import ProjectPaths
from cockpit.core.protocol import LaunchRequest
from cockpit.store.reader import StoreReader
from cockpit.store.supervisor_lock import SupervisorLock
from tests.conftest import wait_for


def start_supervisor(project: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cockpit",
            "supervise",
            "--project",
            str(project),
            "--idle-exit",
            "30",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def test_sigkill_and_restart_loses_and_repeats_nothing(project: Path) -> None:
    paths = ProjectPaths(project)
    first = start_supervisor(project)
    try:
        lock = SupervisorLock(paths.lock)
        wait_for(lock.is_held_elsewhere, what="the supervisor to take the lock")
        client = StoreReader(paths.db)
        request_id = client.submit_request(LaunchRequest(hypothesis="H4"), "test")
        run_id = wait_for(
            lambda: (client.request(request_id) or None) and client.request(request_id).run_id,  # type: ignore[union-attr]
            what="the launch",
        )
        mirror = paths.mirror_log(str(run_id), "train")
        wait_for(
            lambda: mirror.exists() and '"step": 99,' in mirror.read_text(),
            what="the first 100 steps in the mirror",
        )
        wait_for(  # the supervisor has seen it train (lines can reach the mirror first)
            lambda: client.run(str(run_id)).state == "running",  # type: ignore[union-attr]
            what="the run to be running",
        )
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        assert not lock.is_held_elsewhere()  # the OS lock died with the process

        # The run keeps going without a supervisor: 50 more steps while none watches.
        run_dir = paths.runs / str(run_id) / "run"
        (run_dir / "release").touch()
        source = run_dir / "train.log"
        wait_for(lambda: '"step": 149,' in source.read_text(), what="steps written unwatched")
        assert client.run(str(run_id)).state == "running"  # type: ignore[union-attr]

        second = start_supervisor(project)
        try:
            # The new supervisor catches up from the mirror's end, then follows live.
            wait_for(lambda: '"step": 149,' in mirror.read_text(), what="the mirror to catch up")
            (run_dir / "release2").touch()
            wait_for(
                lambda: client.run(str(run_id)).state == "succeeded",  # type: ignore[union-attr]
                what="the re-attached run to succeed",
            )
        finally:
            second.terminate()
            second.wait()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert mirror.read_bytes() == source.read_bytes()
    lines = source.read_text().splitlines()
    steps = [json.loads(line)["step"] for line in lines if line.startswith("{")]
    assert steps == list(range(200))
    assert client.metrics.series(str(run_id), "step", limit=1000) == [float(s) for s in range(200)]


def test_a_second_supervisor_refuses_to_start(project: Path) -> None:
    first = start_supervisor(project)
    try:
        wait_for(SupervisorLock(ProjectPaths(project).lock).is_held_elsewhere, what="the lock")
        second = subprocess.run(
            [sys.executable, "-m", "cockpit", "supervise", "--project", str(project)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode == 1
        assert f"a supervisor already runs for {project} (pid {first.pid}" in second.stderr
    finally:
        first.terminate()
        first.wait()


async def test_a_stop_request_ends_the_supervisor_even_without_a_cancellation(
    project: Path,
) -> None:
    """What SIGTERM does besides cancelling the task: a flag the loop checks after each poll's
    sleep, so a cancellation swallowed by an await (Python 3.11's `wait_for`) cannot keep a
    supervisor polling after it was told to stop."""
    import asyncio

    import pytest

    from cockpit.core.config import load_config
    from cockpit.supervisor import Supervisor
    from tests.conftest import async_wait_for

    supervisor = Supervisor(project, load_config(project))
    task = asyncio.create_task(supervisor.run_forever(idle_exit_s=3600))
    await async_wait_for(lambda: supervisor.polls >= 2, what="two polls")
    supervisor.request_stop()  # and no task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=30)
    assert task.done()
