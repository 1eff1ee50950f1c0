"""The `squeue` parser and what each job state means for a run, on outputs recorded from
several Slurm versions (the plain format with the unit separator is the same in all of them;
what differs is the states and reasons they print), arrays included."""

from __future__ import annotations

import pytest

from backends.base import RunPhase
from backends.slurm_queue import SEP, QueuedJob, duration_s, judge, parse_queue


def line(*fields: str) -> str:
    return SEP.join(fields)


# squeue -h -r -u alice -o FORMAT on Slurm 20.11 (Ubuntu 22.04), 22.05 (Debian 12) and
# 23.11 (a site build): arrays expanded one task a line with -r, a pending array's tasks
# still shown as one `123_[4-9]` line by 20.11 without -r.
RECORDED = "\n".join(
    (
        "squeue: warning: fairshare data is stale",  # a banner line: skipped
        line("4101", "RUNNING", "1-02:03:04", "None", "cockpit-h1-aaaaaa"),
        line("4102", "PENDING", "0:00", "Priority", "cockpit-h2-bbbbbb"),
        line("4103_1", "RUNNING", "12:34", "None", "cockpit-h3-cccccc"),
        line("4103_2", "PENDING", "0:00", "Resources", "cockpit-h3-cccccc"),
        line("4104_[4-9]", "PENDING", "0:00", "QOSMaxJobsPerUserLimit", "sweep|with|bars"),
        line("4105", "COMPLETING", "1:00:00", "NonZeroExitCode", "cockpit-h5-eeeeee"),
        line(
            "4106",
            "PENDING",
            "0:00",
            "Nodes required for job are DOWN, DRAINED or "
            "reserved for jobs in higher priority partitions",
            "cockpit-h6-ffffff",
        ),
        "",
    )
)


def test_recorded_output_is_parsed_whatever_the_fields_hold() -> None:
    jobs = parse_queue(RECORDED)
    assert [job.job_id for job in jobs] == [
        "4101", "4102", "4103_1", "4103_2", "4104_[4-9]", "4105", "4106",
    ]  # fmt: skip
    assert jobs[0].used_s == 26 * 3600 + 3 * 60 + 4 and jobs[0].run_id == "h1-aaaaaa"
    assert jobs[4].name == "sweep|with|bars" and jobs[4].run_id is None  # not cockpit's
    assert jobs[6].reason.startswith("Nodes required for job are DOWN, DRAINED")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0:00", 0), ("12:34", 754), ("1:02:03", 3723), ("2-00:00:01", 172801), ("N/A", 0),
     ("INVALID", 0)],
)  # fmt: skip
def test_durations(text: str, seconds: float) -> None:
    assert duration_s(text) == seconds


def job(state: str, reason: str = "None") -> QueuedJob:
    return QueuedJob("7", state, 60.0, reason, "cockpit-h1-aaaaaa")


@pytest.mark.parametrize(
    ("queued", "exit_code", "training", "phase", "billed", "failure", "says"),
    [
        # waiting in the queue: nothing billed, the reason said
        (job("PENDING", "Priority"), None, False, RunPhase.SETUP, False, None, "waiting: Priority"),
        (job("PENDING", "QOSMaxJobsPerUserLimit"), None, False, RunPhase.SETUP, False, None,
         "QOSMaxJobsPerUserLimit"),
        (job("CONFIGURING"), None, False, RunPhase.SETUP, False, None, "configuring"),
        # back in the queue after a requeue or a preemption that requeues: not terminal
        (job("REQUEUED"), None, True, RunPhase.SETUP, False, None, "back in the queue"),
        (job("REQUEUE_HOLD"), None, True, RunPhase.SETUP, False, None, "back in the queue"),
        # reasons that never resolve: the run fails as infra
        (job("PENDING", "DependencyNeverSatisfied"), None, False, RunPhase.EXITED, False,
         "infra", "never resolves"),
        (job("PENDING", "BadConstraints"), None, False, RunPhase.EXITED, False, "infra", ""),
        # holding an allocation
        (job("RUNNING"), None, False, RunPhase.SETUP, True, None, ""),
        (job("RUNNING"), None, True, RunPhase.TRAINING, True, None, ""),
        (job("COMPLETING"), 0, True, RunPhase.TRAINING, True, None, "completing"),
        (job("SUSPENDED"), None, True, RunPhase.TRAINING, True, None, "suspended"),
        # ended by its own command: the exit-code file settles it
        (job("COMPLETED"), 0, True, RunPhase.EXITED, False, None, ""),
        (job("FAILED"), 1, True, RunPhase.EXITED, False, None, ""),
        (job("FAILED"), None, True, RunPhase.EXITED, False, "killed", "without an exit code"),
        (None, 0, True, RunPhase.EXITED, False, None, ""),
        (None, 2, False, RunPhase.EXITED, False, None, ""),
        (None, None, True, RunPhase.EXITED, False, "killed", "left the queue"),
        # ended otherwise
        (job("CANCELLED"), None, True, RunPhase.EXITED, False, "killed", "cancelled outside"),
        (job("TIMEOUT"), None, True, RunPhase.EXITED, False, "timeout", "time limit"),
        (job("DEADLINE"), None, True, RunPhase.EXITED, False, "timeout", "deadline"),
        (job("NODE_FAIL"), None, True, RunPhase.EXITED, False, "infra", "NODE_FAIL"),
        (job("BOOT_FAIL"), None, False, RunPhase.EXITED, False, "infra", "BOOT_FAIL"),
        (job("OUT_OF_MEMORY"), None, True, RunPhase.EXITED, False, "oom", "host memory"),
        (job("PREEMPTED"), None, True, RunPhase.EXITED, False, "preempted", "not requeued"),
    ],
)  # fmt: skip
def test_every_state_means_one_thing(
    queued: QueuedJob | None, exit_code: int | None, training: bool, phase: RunPhase,
    billed: bool, failure: str | None, says: str,
) -> None:  # fmt: skip
    view = judge(queued, exit_code, training)
    assert (view.phase, view.billed, view.failure) == (phase, billed, failure)
    assert says in view.detail
    assert view.ended == (phase is RunPhase.EXITED)
