"""Every launch path goes through the same guards when it starts: an automatic relaunch due
after its backoff is held when a manual launch of the hypothesis came first, and the failed run
says why (issue 14, finding 3; and 4a: `launch --wait` ends on that guard)."""

from __future__ import annotations

import os
import signal

from cockpit.core.paths import ProjectPaths
from cockpit.core.protocol import Guard, RunState
from tests.conftest import async_wait_for
from tests.harness import Harness


async def test_a_relaunch_after_its_backoff_is_held_by_the_launch_guards(make) -> None:  # type: ignore[no-untyped-def]
    h: Harness = make("[recover]\nbackoff_seconds = 600\n")
    first = await h.launch("H5")
    pid_file = ProjectPaths(h.project).runs / first / "run" / "trainer.pid"
    await async_wait_for(pid_file.exists, what="the trainer's pid")
    os.kill(int(pid_file.read_text()), signal.SIGKILL)
    failed = await h.ended(first)
    assert (failed.failure_class, failed.guard) == ("killed", "")  # a relaunch is due in 600 s
    manual = await h.launch("H5")  # accepted: nothing of H5 is active during the backoff
    h.clock.offset = 601.0  # the backoff is over: the automatic relaunch comes due
    held = await async_wait_for(
        lambda: (run := h.client.run(first)) is not None and run.guard_kind is Guard.RELAUNCH_HELD
        and run,
        what="the held relaunch",
    )  # fmt: skip
    assert held.guard == f"relaunch held: H5 is already running as {manual}"  # type: ignore[union-attr]
    active = [run.id for run in h.client.active_runs()]
    assert active == [manual]
    assert h.client.run(manual).state in (RunState.STARTING, RunState.RUNNING)  # type: ignore[union-attr]
