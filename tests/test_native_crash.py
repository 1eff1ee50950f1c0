"""Real processes that die of a native crash on the local backend are classed `crash`, with
the line or the signal that decided."""

from __future__ import annotations

import shlex
import sys

from cockpit.core.protocol import FailureClass, RunState
from tests.harness import Harness, use_command

CRASH_SCRIPT = """
case "$1" in
  H1) echo "step 1"; exec "$2" -X faulthandler -c 'import ctypes; ctypes.string_at(0)' ;;
  H2) echo "step 1"; kill -SEGV $$ ;;
  H3) echo "step 1"; kill -ABRT $$ ;;
esac
"""


async def test_native_crashes_are_crash(make) -> None:  # type: ignore[no-untyped-def]
    h: Harness = make()
    script = h.project / "crash.sh"
    script.write_text(CRASH_SCRIPT)
    await use_command(h, f"sh {script} {{hypothesis}} {shlex.quote(sys.executable)}")
    faulthandler = await h.ended(await h.launch("H1"))
    assert (faulthandler.state, faulthandler.failure_class) == (RunState.FAILED, FailureClass.CRASH)
    assert faulthandler.exit_code == 139
    assert "Segmentation fault" in (faulthandler.failure_line or "")
    mirror = h.project / ".cockpit" / "runs" / faulthandler.id / "train.log"
    assert "Fatal Python error: Segmentation fault" in mirror.read_text()
    # The shell reports the death in the log ("Segmentation fault", "Aborted"): that line
    # decides; without it, the signal in the exit code would.
    for hypothesis, code, words in (("H2", 139, "Segmentation fault"), ("H3", 134, "Aborted")):
        run = await h.ended(await h.launch(hypothesis))
        assert (run.failure_class, run.exit_code) == (FailureClass.CRASH, code), run.detail
        assert words in (run.failure_line or ""), run.failure_line
