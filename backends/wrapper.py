"""The shell wrapper every run executes in, on this machine or on a remote host.

It runs the setup command into `onstart.log`, touches `training`, runs the training command into
`train.log`, and writes the exit code to `exit_code` (via a rename, so a reader never sees half
a number). Everything goes to files, so the run keeps going and logging when the supervisor or
its connection goes away, and a new supervisor re-attaches from those files.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping

WRAPPER = r"""
cd "$COCKPIT_WORKDIR" || { echo "[cockpit] cannot enter $COCKPIT_WORKDIR" >> "$COCKPIT_RUN_DIR/onstart.log"; echo 126 > "$COCKPIT_RUN_DIR/exit_code"; exit 126; }
if [ -n "$_COCKPIT_SETUP" ]; then
  echo "[cockpit] setup: $_COCKPIT_SETUP" >> "$COCKPIT_RUN_DIR/onstart.log"
  sh -c "$_COCKPIT_SETUP" >> "$COCKPIT_RUN_DIR/onstart.log" 2>&1 < /dev/null
  rc=$?
  if [ $rc -ne 0 ]; then
    echo "[cockpit] setup failed with exit code $rc" >> "$COCKPIT_RUN_DIR/onstart.log"
    echo $rc > "$COCKPIT_RUN_DIR/exit_code.tmp" && mv "$COCKPIT_RUN_DIR/exit_code.tmp" "$COCKPIT_RUN_DIR/exit_code"
    exit $rc
  fi
  echo "[cockpit] setup done" >> "$COCKPIT_RUN_DIR/onstart.log"
fi
echo "[cockpit] training: $_COCKPIT_COMMAND" >> "$COCKPIT_RUN_DIR/onstart.log"
: > "$COCKPIT_RUN_DIR/training"
sh -c "$_COCKPIT_COMMAND" >> "$COCKPIT_RUN_DIR/train.log" 2>&1 < /dev/null
rc=$?
echo $rc > "$COCKPIT_RUN_DIR/exit_code.tmp" && mv "$COCKPIT_RUN_DIR/exit_code.tmp" "$COCKPIT_RUN_DIR/exit_code"
exit $rc
"""


def exports(env: Mapping[str, str]) -> str:
    """`export NAME='value'` lines; any value (quotes, newlines, `$`) arrives intact."""
    lines = []
    for name, value in env.items():
        if not name.replace("_", "a").isalnum() or name[0].isdigit():
            raise ValueError(f"not an environment variable name: {name!r}")
        lines.append(f"export {name}={shlex.quote(value)}")
    return "\n".join(lines)
