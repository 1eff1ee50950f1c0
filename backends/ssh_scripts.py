"""The shell snippets the SSH backend runs on a host: plain POSIX sh, one round trip each.

Every value is quoted with `shlex.quote`; paths are absolute (the host's home is resolved once
per connection), so nothing depends on the remote login shell.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence

from backends.gpu import GPU_QUERY, NO_GPU_LINE
from backends.wrapper import WRAPPER, exports

q = shlex.quote

_LOG = 'log() { echo "[cockpit] $*" >> "$RUN_DIR/onstart.log"; }'

_PROC_FIELDS = """
ticks_of() { sed 's/.*) //' /proc/$1/stat 2>/dev/null | cut -d' ' -f20; }
state_of() { sed 's/.*) //' /proc/$1/stat 2>/dev/null | cut -d' ' -f1; }
"""


def prepare_code(run_dir: str, workdir: str, commit: str, run_id: str) -> str:
    """Put the run's commit in `<run_dir>/code`: a worktree of the host's checkout when it has
    the commit (after a fetch), else print `upload` so the caller sends a `git archive`."""
    return f"""
RUN_DIR={q(run_dir)}; WORKDIR={q(workdir)}; COMMIT={q(commit)}
mkdir -p "$RUN_DIR" || exit 3
{_LOG}
: >> "$RUN_DIR/onstart.log"; : >> "$RUN_DIR/train.log"
if [ -d "$RUN_DIR/code" ]; then echo ready; exit 0; fi
log "run {run_id} on $(hostname), commit $COMMIT"
if [ "$COMMIT" != no-git ] && cd "$WORKDIR" 2>/dev/null && git rev-parse --git-dir >/dev/null 2>&1; then
  log "git fetch in $WORKDIR"
  git fetch --quiet >> "$RUN_DIR/onstart.log" 2>&1 || log "git fetch failed; looking for the commit locally"
  if git cat-file -e "$COMMIT^{{commit}}" 2>/dev/null; then
    log "git worktree add --detach $RUN_DIR/code $COMMIT"
    if git worktree add --detach "$RUN_DIR/code" "$COMMIT" >> "$RUN_DIR/onstart.log" 2>&1; then
      echo ready; exit 0
    fi
  fi
  log "commit $COMMIT is not in $WORKDIR: uploading it"
else
  log "no git checkout at $WORKDIR: uploading the code"
fi
echo upload
"""


def unpack_code(run_dir: str, what: str) -> str:
    return f"""
RUN_DIR={q(run_dir)}
{_LOG}
mkdir -p "$RUN_DIR/code.tmp" && tar -xf "$RUN_DIR/code.tar" -C "$RUN_DIR/code.tmp" \\
  && mv "$RUN_DIR/code.tmp" "$RUN_DIR/code" && rm -f "$RUN_DIR/code.tar" \\
  && log "unpacked {what} into $RUN_DIR/code"
"""


def launch(run_dir: str, env: Mapping[str, str]) -> str:
    """Start the wrapper detached (setsid nohup) unless this run already started; print
    `pid start_ticks`."""
    return f"""
RUN_DIR={q(run_dir)}
{_PROC_FIELDS}
if [ -f "$RUN_DIR/pid" ]; then cat "$RUN_DIR/pid"; exit 0; fi
cd "$RUN_DIR" || exit 3
{exports(env)}
setsid nohup sh -c {q(WRAPPER)} > "$RUN_DIR/wrapper.log" 2>&1 < /dev/null &
pid=$!
ticks=$(ticks_of $pid)
echo "$pid ${{ticks:-0}}" > "$RUN_DIR/pid.tmp" && mv "$RUN_DIR/pid.tmp" "$RUN_DIR/pid"
cat "$RUN_DIR/pid"
"""


def status(run_dirs: Sequence[str]) -> str:
    """One line per run: `<run_dir> <exit code or -> <alive 0/1> <training 0/1> <group 0/1>`:
    whether the wrapper lives, and whether anything of its process group does (a trainer in
    its SIGTERM handler can outlive the wrapper, still writing its log)."""
    dirs = " ".join(q(d) for d in run_dirs)
    return f"""
{_PROC_FIELDS}
for d in {dirs}; do
  pid=; code=-; [ -f "$d/exit_code" ] && code=$(cat "$d/exit_code")
  alive=0
  if [ -f "$d/pid" ]; then
    set -- $(cat "$d/pid"); pid=$1; ticks=${{2:-0}}
    if [ -r /proc/$pid/stat ]; then
      now=$(ticks_of $pid); state=$(state_of $pid)
      if [ "$state" != Z ] && {{ [ "$ticks" = 0 ] || [ "$now" = "$ticks" ]; }}; then alive=1; fi
    elif kill -0 "$pid" 2>/dev/null; then alive=1; fi
  fi
  training=0; [ -f "$d/training" ] && training=1
  group=0; [ -n "${{pid:-}}" ] && kill -0 -"$pid" 2>/dev/null && group=1
  echo "$d ${{code:--}} $alive $training $group"
done
"""


def stop(pgid: int, grace_s: float) -> str:
    """TERM the process group, KILL after the grace period, print `gone` or `alive`."""
    ticks = max(1, int(grace_s * 10))
    return f"""
kill -TERM -{pgid} 2>/dev/null
i=0
while kill -0 -{pgid} 2>/dev/null && [ $i -lt {ticks} ]; do sleep 0.1; i=$((i+1)); done
kill -KILL -{pgid} 2>/dev/null
i=0
while kill -0 -{pgid} 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
if kill -0 -{pgid} 2>/dev/null; then echo alive; else echo gone; fi
"""


def list_runs(runs_root: str) -> str:
    """Every cockpit run directory on the host with a live process: `<run_id> <age seconds>`."""
    return f"""
{_PROC_FIELDS}
now=$(date +%s)
for p in {q(runs_root)}/*/pid; do
  [ -f "$p" ] || continue
  d=$(dirname "$p"); [ -f "$d/exit_code" ] && continue
  set -- $(cat "$p"); pid=$1
  if kill -0 "$pid" 2>/dev/null && [ "$(state_of $pid)" != Z ]; then
    echo "$(basename "$d") $((now - $(stat -c %Y "$p")))"
  fi
done
"""


def while_channel_open(command: str) -> str:
    """Run `command` until it ends or the SSH channel closes, whichever comes first. A quiet
    `tail -F` or the GPU source's placeholder never writes, so it would never notice a closed
    channel (no SIGPIPE) and would outlive its stream, one per reconnect: a watcher reading the
    channel's stdin ends it at EOF."""
    # A background job's stdin is /dev/null in a shell without job control: the watcher gets
    # the channel's stdin through fd 3, saved before.
    return (
        "exec 3<&0\n"
        f"{command} </dev/null 3<&- & pid=$!\n"
        '{ cat <&3 >/dev/null 3<&-; kill "$pid" 2>/dev/null; } >/dev/null 2>&1 &\n'
        "exec 3<&-\n"
        'wait "$pid"'
    )


def tail(path: str, offset: int, follow: bool) -> str:
    if not follow:
        return f"tail -c +{offset + 1} {q(path)} 2>/dev/null"
    return while_channel_open(f"tail -c +{offset + 1} -F {q(path)} 2>/dev/null")


def gpu(interval_s: float, announce_missing: bool, only: Sequence[int] | None = None) -> str:
    """Samples every `interval_s` (`only`: the run's GPUs, `nvidia-smi -i`; None: all)."""
    missing = f'echo "{NO_GPU_LINE} (nvidia-smi not found)"' if announce_missing else "true"
    seconds = max(1, int(interval_s))
    ids = f" -i {','.join(str(index) for index in only)}" if only else ""
    sample = f"nvidia-smi --query-gpu={GPU_QUERY} --format=csv,noheader,nounits{ids} -l {seconds}"
    return (
        f"if command -v nvidia-smi >/dev/null 2>&1; then\n{while_channel_open(sample)}\n"
        f"else\n{missing}\n{while_channel_open('sleep 2147483647')}\nfi"
    )
