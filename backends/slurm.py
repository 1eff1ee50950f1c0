"""The Slurm backend: runs as batch jobs submitted from a cluster's login node, through the
scheduler and never around it.

A login node is an SSH host, so this is the SSH backend with another way to start, watch and
stop a run: the code and the run directory arrive as on any SSH host (on the filesystem the
nodes share), the job is an `sbatch` of a script that runs the shared wrapper (onstart, then
train, logs appended so a requeued job keeps what it wrote, the exit code in a file), and the
logs are tailed from the login node. One `squeue` per poll covers every job of the backend;
a job that left the queue is settled from its exit-code file. A job is named
`cockpit-<run_id>`, so a retried submit finds it and never submits twice, and `cockpit ps`
finds the jobs the store does not know. Cost: `cost_per_hour` × the time the scheduler counts
the job as running; pending time is not billed.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path

from backends import slurm_scripts as scripts
from backends.base import LogSource, Observation, RemoteResource, RunHandle, RunPhase, RunSpec
from backends.slurm_queue import QueuedJob, judge, parse_queue
from backends.ssh import STATUS_TIMEOUT_S, SshBackend
from backends.ssh_conn import HostKeyError, HostUnreachable, SshHost


class SlurmBackend(SshBackend):
    kind = "slurm"
    is_remote = True
    bills = True
    places_runs = False  # the scheduler places jobs (`--gpus`)

    def __init__(
        self,
        name: str,
        host: SshHost,
        project: Path,
        sbatch_args: Sequence[str] = (),
        workdir: str = "~",
        env: Mapping[str, str] | None = None,
        setup: str | None = None,
        cost_per_hour: float = 0.0,
        gpu_interval_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            name, host, project, workdir, env, setup, cost_per_hour, gpu_interval_s, clock
        )
        self.sbatch_args = list(sbatch_args)
        """`--partition`, `--gpus`, … as configured, then the config's own `sbatch_args`."""
        self._used: dict[str, float] = {}
        """Running time each job was last seen with (kept once it left the queue)."""
        self.squeue_calls = 0
        """`squeue` invocations by `observe` (one per poll, whatever the number of jobs)."""

    # ---- launch ---------------------------------------------------------------------------

    async def launch(self, spec: RunSpec) -> RunHandle:
        run_dir, env = await self._prepare(spec)
        script = scripts.job_script(env, self.gpu_interval_s)
        job = await self.host.run(
            scripts.submit(self.env, run_dir, spec.run_id, script, self.sbatch_args)
        )
        job_id = job.strip().splitlines()[-1] if job.strip() else ""
        if not job_id:
            raise RuntimeError(f"sbatch on {self.host.describe()} gave no job id")
        return RunHandle(
            run_id=spec.run_id,
            backend=self.name,
            run_dir=run_dir,
            data={"job_id": job_id, "submitted_at": self.clock()},
        )

    async def end_leftovers(self, run_id: str) -> bool:
        """A launch that failed after `sbatch` may have queued a job: cancel it."""
        try:
            found = await self.host.run(scripts.find_job(self.env, run_id))
        except (HostUnreachable, HostKeyError, RuntimeError):
            return False
        for job_id in found.split():
            answer = await self.host.run(scripts.cancel(self.env, job_id, 5.0), timeout=90)
            if answer.strip() != "gone":
                return False
        return True

    # ---- observe --------------------------------------------------------------------------

    async def observe(self, handles: Sequence[RunHandle]) -> dict[str, Observation]:
        if not handles:
            return {}
        try:
            self.squeue_calls += 1
            output = await self.host.run(
                scripts.status(self.env, [h.run_dir for h in handles]), timeout=STATUS_TIMEOUT_S
            )
        except (HostUnreachable, HostKeyError, RuntimeError) as exc:
            detail = f"{self.host.describe()} unreachable; job state unknown ({exc})"
            return {h.run_id: Observation(RunPhase.UNKNOWN, detail=detail) for h in handles}
        queue_part, files = [], {}
        for line in output.splitlines():
            if line.startswith("@ "):
                parts = line.split()
                if len(parts) == 4:
                    files[parts[1]] = (parts[2], parts[3] == "1")
            else:
                queue_part.append(line)
        if "@squeue-failed" in queue_part:
            detail = f"squeue failed on {self.host.describe()}; job state unknown"
            return {h.run_id: Observation(RunPhase.UNKNOWN, detail=detail) for h in handles}
        jobs = {job.job_id: job for job in parse_queue("\n".join(queue_part))}
        return {handle.run_id: self._observe_one(handle, jobs, files) for handle in handles}

    def _observe_one(
        self,
        handle: RunHandle,
        jobs: Mapping[str, QueuedJob],
        files: Mapping[str, tuple[str, bool]],
    ) -> Observation:
        code, training = files.get(handle.run_dir, ("-", False))
        exit_code = int(code) if code.lstrip("-").isdigit() else None
        job = jobs.get(str(handle.data.get("job_id", "")))
        if job is not None and job.used_s:
            self._used[handle.run_id] = job.used_s
        view = judge(job, exit_code, training)
        if view.ended:
            self._finished.add(handle.run_id)
        return Observation(
            phase=view.phase,
            exit_code=exit_code if view.phase is RunPhase.EXITED else None,
            uptime_s=self._used.get(handle.run_id, 0.0),
            cost_per_hour=self.cost_per_hour if view.billed else 0.0,
            detail=view.detail if view.phase is RunPhase.EXITED else "",
            waiting=view.detail if view.phase is not RunPhase.EXITED else "",
            failure=view.failure,
            setup_done=training,
        )

    # ---- gpu: sampled inside the job, tailed from the shared filesystem -----------------

    async def _gpu(self, handle: RunHandle, offset: int) -> AsyncIterator[bytes]:
        async for chunk in self._tail_file(handle, f"{handle.run_dir}/{LogSource.GPU}.log", offset):
            yield chunk

    # ---- stop, orphans ----------------------------------------------------------------------

    async def stop(self, handle: RunHandle, grace_s: float) -> None:
        job_id = str(handle.data["job_id"])
        answer = await self.host.run(
            scripts.cancel(self.env, job_id, grace_s), timeout=grace_s + 90
        )
        if answer.strip() != "gone":
            raise RuntimeError(
                f"Slurm job {job_id} of {handle.run_id} on {self.host.describe()} is still "
                f"{answer.strip() or 'queued'} after scancel"
            )
        self._finished.add(handle.run_id)

    async def list_billed(self) -> list[RemoteResource]:
        await self.host.connection()
        output = await self.host.run(scripts.list_jobs(self.env))
        return [
            RemoteResource(
                backend=self.name,
                resource_id=f"slurm:{job.job_id}",
                run_id=job.run_id,
                age_s=job.used_s,
                cost_per_hour=self.cost_per_hour if job.state != "PENDING" else 0.0,
                detail=f"{job.state.lower()}" + (f" ({job.reason})" if job.reason else ""),
            )
            for job in parse_queue(output)
            if job.run_id is not None
        ]


def sbatch_args_from_config(settings: object) -> list[str]:
    """`sbatch` arguments from an `[backends.NAME] kind = "slurm"` table."""
    args = []
    for option, key in (
        ("--partition", "partition"),
        ("--account", "account"),
        ("--qos", "qos"),
        ("--cpus-per-task", "cpus_per_task"),
        ("--mem", "mem"),
        ("--time", "time_limit"),
    ):
        value = getattr(settings, key, None)
        if value is not None:
            args.append(f"{option}={value}")
    gpus = getattr(settings, "gpus", 0)
    if gpus:
        args.append(f"--gpus={gpus}")
    return [*args, *getattr(settings, "sbatch_args", [])]
