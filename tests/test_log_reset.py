"""A run's own log truncated or replaced mid-run: what was mirrored is kept, the run says so,
and the mirror follows the new file (issue 14, finding 9, local backend)."""

from __future__ import annotations

import shlex
import sys

from cockpit.core.paths import ProjectPaths
from tests.conftest import async_wait_for
from tests.harness import Harness, use_command

TRAINER = """
import os, sys, time
run_dir = os.environ["COCKPIT_RUN_DIR"]
def wait(name):
    while not os.path.exists(os.path.join(run_dir, name)):
        time.sleep(0.02)
print("before 1", flush=True)
print("before 2", flush=True)
wait("release")
if sys.argv[1] == "truncate":
    os.truncate(os.path.join(run_dir, "train.log"), 0)
else:  # replaced by a new, longer file (a log rotated under the run)
    path = os.path.join(run_dir, "train.log")
    os.rename(path, path + ".1")
    sys.stdout = open(path, "a")
    print("x" * 100, flush=True)
print("after 1", flush=True)
wait("release2")
print("after 2", flush=True)
"""


async def _reset_is_followed(h: Harness, how: str) -> None:
    script = h.project / "rotating.py"
    script.write_text(TRAINER)
    await use_command(h, f"{shlex.quote(sys.executable)} {script} {how}")
    run_id = await h.launch("H5")
    paths = ProjectPaths(h.project)
    run_dir = paths.runs / run_id / "run"
    mirror = paths.mirror_log(run_id, "train")
    await async_wait_for(lambda: mirror.exists() and "before 2" in mirror.read_text(), what="2")
    (run_dir / "release").touch()
    await async_wait_for(lambda: "after 1" in mirror.read_text(), what="the new file followed")
    (run_dir / "release2").touch()
    await h.ended(run_id)
    mirrored = mirror.read_text()
    new = (run_dir / "train.log").read_text()
    assert mirrored.startswith("before 1\nbefore 2\n") and mirrored.endswith(new)
    assert new.endswith("after 1\nafter 2\n")
    said = [e.message for e in h.client.events(run_id) if e.kind == "log-reset"]
    assert len(said) == 1 and "train.log was" in said[0], said


async def test_a_truncated_log_is_followed(make) -> None:  # type: ignore[no-untyped-def]
    await _reset_is_followed(make(), "truncate")


async def test_a_replaced_log_is_followed(make) -> None:  # type: ignore[no-untyped-def]
    await _reset_is_followed(make(), "replace")
