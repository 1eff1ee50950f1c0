"""A trainer that handles SIGTERM keeps writing after the stop: its last words reach the mirror
(issue 14, finding 1, on the local backend)."""

from __future__ import annotations

import shlex
import sys

from cockpit.protocol import RunState
from cockpit.runtime import ProjectPaths
from tests.conftest import async_wait_for
from tests.harness import Harness, use_command

TRAINER = """
import signal, sys, time
def saving(signum, frame):
    print("saving checkpoint", flush=True)
    time.sleep(1.0)  # a checkpoint takes a while to write
    print("checkpoint saved", flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, saving)
print("step 1", flush=True)
while True:
    time.sleep(0.05)
"""


async def test_lines_written_after_sigterm_reach_the_mirror(make) -> None:  # type: ignore[no-untyped-def]
    h: Harness = make()
    script = h.project / "graceful.py"
    script.write_text(TRAINER)
    await use_command(h, f"{shlex.quote(sys.executable)} {script}")
    run_id = await h.launch("H5")
    paths = ProjectPaths(h.project)
    mirror = paths.mirror_log(run_id, "train")
    await async_wait_for(lambda: mirror.exists() and "step 1" in mirror.read_text(), what="step 1")
    status, _, _ = await h.answer(h.request("stop", run_id=run_id))
    assert status == "done"
    run = await h.ended(run_id)
    assert run.state == RunState.STOPPED
    own = (paths.runs / run_id / "run" / "train.log").read_text()
    assert own.endswith("saving checkpoint\ncheckpoint saved\n")
    assert mirror.read_text() == own
