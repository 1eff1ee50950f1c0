"""The shell wrapper every run executes in, on this machine or on a remote host.

It runs the setup command into `onstart.log`, touches `training`, runs the training command into
`train.log`, and writes the exit code to `exit_code` (via a rename, so a reader never sees half
a number). Everything goes to files, so the run keeps going and logging when the supervisor or
its connection goes away, and a new supervisor re-attaches from those files.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Mapping

WRAPPER = r"""
cd "$COCKPIT_WORKDIR" || { echo "[cockpit] cannot enter $COCKPIT_WORKDIR" >> "$COCKPIT_RUN_DIR/onstart.log"; echo 126 > "$COCKPIT_RUN_DIR/exit_code"; exit 126; }
if [ -n "$_COCKPIT_SETUP" ] && [ -n "$_COCKPIT_SETUP_MARK" ] && [ -e "$_COCKPIT_SETUP_MARK" ]; then
  echo "[cockpit] setup: skipped, it passed on this host for this commit and command before ($_COCKPIT_SETUP_MARK)" >> "$COCKPIT_RUN_DIR/onstart.log"
elif [ -n "$_COCKPIT_SETUP" ]; then
  echo "[cockpit] setup: $_COCKPIT_SETUP" >> "$COCKPIT_RUN_DIR/onstart.log"
  sh -c "$_COCKPIT_SETUP" >> "$COCKPIT_RUN_DIR/onstart.log" 2>&1 < /dev/null
  rc=$?
  if [ $rc -ne 0 ]; then
    echo "[cockpit] setup failed with exit code $rc" >> "$COCKPIT_RUN_DIR/onstart.log"
    echo $rc > "$COCKPIT_RUN_DIR/exit_code.tmp" && mv "$COCKPIT_RUN_DIR/exit_code.tmp" "$COCKPIT_RUN_DIR/exit_code"
    exit $rc
  fi
  echo "[cockpit] setup done" >> "$COCKPIT_RUN_DIR/onstart.log"
  if [ -n "$_COCKPIT_SETUP_MARK" ]; then
    mkdir -p "$(dirname "$_COCKPIT_SETUP_MARK")" && : > "$_COCKPIT_SETUP_MARK"
  fi
fi
echo "[cockpit] training: $_COCKPIT_COMMAND" >> "$COCKPIT_RUN_DIR/onstart.log"
: > "$COCKPIT_RUN_DIR/training"
sh -c "$_COCKPIT_COMMAND" >> "$COCKPIT_RUN_DIR/train.log" 2>&1 < /dev/null
rc=$?
echo $rc > "$COCKPIT_RUN_DIR/exit_code.tmp" && mv "$COCKPIT_RUN_DIR/exit_code.tmp" "$COCKPIT_RUN_DIR/exit_code"
exit $rc
"""


def setup_mark(folder: str, commit: str, setup: str) -> str:
    """Where a host remembers that `setup` passed for `commit` (`setup_once_per_commit`): the
    next run of that commit there skips it. Never for an uncommitted tree ('no-git')."""
    if not setup or commit in ("", "no-git"):
        return ""
    digest = hashlib.sha1(setup.encode("utf-8"), usedforsecurity=False).hexdigest()[:12]
    return f"{folder.rstrip('/')}/{commit}-{digest}"


def exports(env: Mapping[str, str]) -> str:
    """`export NAME='value'` lines; any value (quotes, newlines, `$`) arrives intact."""
    lines = []
    for name, value in env.items():
        if not name.replace("_", "a").isalnum() or name[0].isdigit():
            raise ValueError(f"not an environment variable name: {name!r}")
        lines.append(f"export {name}={shlex.quote(value)}")
    return "\n".join(lines)
