"""The shell snippets the Slurm backend runs on the login node: plain POSIX sh, one round trip
each, every value quoted. `prelude` exports the backend's `env` first, so a cluster that needs
e.g. `SLURM_CONF` set gets it for cockpit's own commands as for its runs."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence

from backends.gpu import GPU_QUERY, NO_GPU_LINE
from backends.slurm_queue import FORMAT, NAME_PREFIX
from backends.wrapper import WRAPPER, exports

q = shlex.quote


def prelude(env: Mapping[str, str]) -> str:
    return exports(env) + "\n" if env else ""


def job_script(env: Mapping[str, str], gpu_interval_s: float) -> str:
    """The batch script: the run's environment, a GPU sampler into `gpu.log` beside the other
    logs (nvidia-smi runs on the job's node, not the login node), then the shared wrapper. A
    requeued job starts it again from the top: the logs are appended to, never truncated,
    and the exit code of an earlier start is cleared."""
    seconds = max(1, int(gpu_interval_s))
    sample = f"nvidia-smi --query-gpu={GPU_QUERY} --format=csv,noheader,nounits -l {seconds}"
    return f"""#!/bin/sh
{exports(env)}
cd "$COCKPIT_RUN_DIR" || exit 3
rm -f "$COCKPIT_RUN_DIR/exit_code" "$COCKPIT_RUN_DIR/training"
echo "[cockpit] job $SLURM_JOB_ID on $(hostname) (restart $SLURM_RESTART_COUNT)" >> onstart.log
if command -v nvidia-smi >/dev/null 2>&1; then
  {sample} >> "$COCKPIT_RUN_DIR/gpu.log" 2>/dev/null &
else
  echo "{NO_GPU_LINE} (nvidia-smi not found on $(hostname))" >> "$COCKPIT_RUN_DIR/gpu.log"
fi
sampler=$!
sh -c {q(WRAPPER)}
rc=$?
[ -n "$sampler" ] && kill "$sampler" 2>/dev/null
exit $rc
"""


def submit(
    env: Mapping[str, str], run_dir: str, run_id: str, script: str, args: Sequence[str]
) -> str:
    """Write the batch script and submit it, unless a job of this run already exists (a
    retried launch must never submit twice): print the job id."""
    name = NAME_PREFIX + run_id
    return f"""{prelude(env)}RUN_DIR={q(run_dir)}
if [ -f "$RUN_DIR/job_id" ]; then cat "$RUN_DIR/job_id"; exit 0; fi
found=$(squeue -h -u "$(id -un)" -n {q(name)} -o %i | head -n 1)
if [ -n "$found" ]; then echo "$found" > "$RUN_DIR/job_id"; echo "$found"; exit 0; fi
printf '%s' {q(script)} > "$RUN_DIR/job.sh" && chmod +x "$RUN_DIR/job.sh" || exit 3
: >> "$RUN_DIR/onstart.log"; : >> "$RUN_DIR/train.log"; : >> "$RUN_DIR/gpu.log"
job=$(sbatch --parsable --job-name={q(name)} --chdir="$RUN_DIR" \\
  --output="$RUN_DIR/slurm.out" --open-mode=append {" ".join(q(a) for a in args)} \\
  "$RUN_DIR/job.sh" 2>> "$RUN_DIR/onstart.log") || {{
  echo "sbatch failed: $(tail -n 1 "$RUN_DIR/onstart.log")" >&2; exit 4; }}
job=${{job%%;*}}
echo "$job" > "$RUN_DIR/job_id"
echo "$job"
"""


def status(env: Mapping[str, str], run_dirs: Sequence[str]) -> str:
    """One `squeue` for every job of this user, then `@ <run_dir> <exit code or -> <training>`
    per run."""
    dirs = " ".join(q(d) for d in run_dirs)
    return f"""{prelude(env)}squeue -h -r -u "$(id -un)" -o {q(FORMAT)} || echo "@squeue-failed"
for d in {dirs}; do
  code=-; [ -f "$d/exit_code" ] && code=$(cat "$d/exit_code")
  training=0; [ -f "$d/training" ] && training=1
  echo "@ $d ${{code:--}} $training"
done
"""


def cancel(env: Mapping[str, str], job_id: str, grace_s: float) -> str:
    """TERM the batch shell and every step, cancel after the grace period, then wait until
    the job has left the running states: print `gone` or the state it is stuck in."""
    ticks = max(1, int(grace_s * 10))
    job = q(job_id)
    return f"""{prelude(env)}state() {{ squeue -h -j {job} -o %T 2>/dev/null | head -n 1; }}
running() {{
  case "$(state)" in
    ""|CANCELLED|COMPLETED|FAILED|TIMEOUT|NODE_FAIL|PREEMPTED|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE)
      return 1;;
  esac
  return 0
}}
case "$(state)" in
  RUNNING|SUSPENDED)  # (a pending job is only cancelled: signalling it, scancel retries ~90 s)
    scancel --full --signal=TERM {job} 2>/dev/null
    i=0; while running && [ $i -lt {ticks} ]; do sleep 0.1; i=$((i+1)); done;;
esac
scancel {job} 2>/dev/null
i=0; while running && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
if running; then echo "$(state)"; else echo gone; fi
"""


def find_job(env: Mapping[str, str], run_id: str) -> str:
    return f'{prelude(env)}squeue -h -u "$(id -un)" -n {q(NAME_PREFIX + run_id)} -o %i'


def list_jobs(env: Mapping[str, str]) -> str:
    """Every queued or running job of this user named by cockpit."""
    return f'{prelude(env)}squeue -h -r -u "$(id -un)" -o {q(FORMAT)}'
