"""Reading Slurm's queue: the one `squeue` line format cockpit asks for, its parser, and what
each job state means for a run. Pure: no I/O, table-tested on recorded outputs.

`squeue --json` changes its schema between Slurm versions; the plain format below does not.
Fields are separated by ASCII's unit separator (0x1F), which no job name or reason contains,
and the job name comes last. `-r` expands array jobs one line per task.
"""

from __future__ import annotations

from dataclasses import dataclass

from backends.base import RunPhase

SEP = "\x1f"
FORMAT = SEP.join(("%i", "%T", "%M", "%r", "%j"))
"""Job id, state (long form), time used, reason, name."""
NAME_PREFIX = "cockpit-"
"""Every job cockpit submits is named `cockpit-<run_id>`."""

WAITING = {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING"}
"""In the queue and not running: nothing billed."""
ACTIVE = {"RUNNING", "COMPLETING", "SUSPENDED", "STAGE_OUT", "SIGNALING", "STOPPED"}
"""Holding an allocation: billed. COMPLETING is not yet terminal (the batch shell may still
write its last lines)."""
SETTLED_BY_FILE = {"COMPLETED", "FAILED"}
"""Ended by the job's own command: its exit code is in the run directory."""
ENDED_AS = {
    "CANCELLED": ("killed", "cancelled outside cockpit (scancel)"),
    "TIMEOUT": ("timeout", "Slurm's time limit was reached (time_limit / --time)"),
    "DEADLINE": ("timeout", "the job's deadline passed"),
    "NODE_FAIL": ("infra", "the job's node failed (NODE_FAIL)"),
    "BOOT_FAIL": ("infra", "the job's node failed to boot (BOOT_FAIL)"),
    "OUT_OF_MEMORY": ("oom", "out of host memory (Slurm's OUT_OF_MEMORY: RAM, not the GPU's)"),
    "PREEMPTED": ("preempted", "preempted by the scheduler and not requeued"),
    "SPECIAL_EXIT": ("infra", "held in SPECIAL_EXIT by the scheduler"),
    "REVOKED": ("infra", "revoked by a sibling cluster"),
}
"""States of a job that ended otherwise: the failure class, and what to say."""
NEVER_RUNS = {
    "DependencyNeverSatisfied",
    "BadConstraints",
    "PartitionConfig",
    "InvalidAccount",
    "InvalidQOS",
    "AccountNotAllowed",
    "QOSNotAllowed",
    "PartitionDown",
    "launch failed requeued held",
    "JobHeldAdmin",
}
"""Reasons a pending job gives that do not resolve by waiting: the run fails (`infra`)."""


@dataclass(frozen=True)
class QueuedJob:
    job_id: str
    state: str
    used_s: float
    """Running time so far, as the scheduler counts it (0 while pending)."""
    reason: str
    name: str

    @property
    def run_id(self) -> str | None:
        return self.name[len(NAME_PREFIX) :] if self.name.startswith(NAME_PREFIX) else None


def parse_queue(output: str) -> list[QueuedJob]:
    """The jobs in `squeue -h -r -o FORMAT`'s output; lines that are not such (a banner, a
    warning) are skipped."""
    jobs = []
    for line in output.splitlines():
        fields = line.split(SEP, 4)
        if len(fields) != 5 or not fields[0].strip():
            continue
        job_id, state, used, reason, name = (field.strip() for field in fields)
        jobs.append(QueuedJob(job_id, state.split()[0].upper(), duration_s(used), reason, name))
    return jobs


def duration_s(text: str) -> float:
    """Slurm's `[days-][hours:]minutes:seconds` (or `INVALID`, `N/A`) in seconds."""
    days, _, clock = text.strip().rpartition("-")
    parts = clock.split(":")
    if not all(part.isdigit() for part in parts) or not 1 <= len(parts) <= 3:
        return 0.0
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + int(part)
    return float(seconds + (int(days) * 86400 if days.isdigit() else 0))


@dataclass(frozen=True)
class JobView:
    """What one look at a job means for its run."""

    phase: RunPhase
    billed: bool
    """Holding an allocation (cost accrues)."""
    detail: str = ""
    failure: str | None = None
    ended: bool = False
    """The job has left the running states for good: the run's streams can end."""


def judge(job: QueuedJob | None, exit_code: int | None, training: bool) -> JobView:
    """A run's phase from its job in the queue (None: not in it any more) and the run
    directory's files (`exit_code` as the wrapper wrote it; `training`: setup finished)."""
    working = RunPhase.TRAINING if training else RunPhase.SETUP
    if job is None or job.state in SETTLED_BY_FILE:
        if exit_code is not None:
            return JobView(RunPhase.EXITED, False, ended=True)
        if job is None:
            return JobView(
                RunPhase.EXITED, False, "the job left the queue without an exit code",
                "killed", ended=True,
            )  # fmt: skip
        return JobView(
            RunPhase.EXITED, False, f"the job ended {job.state} without an exit code",
            "killed" if job.state == "FAILED" else None, ended=True,
        )  # fmt: skip
    if job.state in ENDED_AS:
        failure, detail = ENDED_AS[job.state]
        return JobView(RunPhase.EXITED, False, detail, failure, ended=True)
    if job.state in WAITING:
        if job.state == "PENDING" and job.reason in NEVER_RUNS:
            detail = f"pending for a reason that never resolves: {job.reason}"
            return JobView(RunPhase.EXITED, False, detail, "infra", ended=True)
        if job.state == "PENDING":
            return JobView(RunPhase.SETUP, False, f"pending in the queue (waiting: {job.reason})")
        return JobView(RunPhase.SETUP, False, f"{job.state.lower()}: back in the queue")
    if job.state in ACTIVE:
        return JobView(working, True, "" if job.state == "RUNNING" else job.state.lower())
    return JobView(working, True, f"Slurm state {job.state}")
