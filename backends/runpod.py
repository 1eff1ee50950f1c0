"""The RunPod backend: provision a GPU pod, then run on it over SSH exactly like any host.

Launch = `podFindAndDeployOnDemand` named after the run id (looked up by name before any retry,
so a create that timed out but succeeded never makes a second pod), wait until `runtime.ports`
shows public port 22, trust the pod's new host key once and pin it in the run's handle, then the
SSH backend's runner does code transfer, setup, detached training, the three sources and stop.
Every failure after the pod exists terminates it before the error goes up: nothing bills unseen.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import asyncssh

from backends.base import (
    Backend,
    LogSource,
    Observation,
    RemoteResource,
    RunHandle,
    RunPhase,
    RunSpec,
)
from backends.runpod_api import RunPodApi, RunPodAuthError, RunPodError, RunPodTransientError
from backends.runpod_pods import preempted_by, public_key, ssh_address, terminated
from backends.ssh import SshBackend
from backends.ssh_conn import SshHost

OBSERVE_CONCURRENCY = 16
"""Pods observed over SSH at the same time in one poll."""
STOPPED_VOLUME_PER_GB_MONTH = 0.20
"""RunPod's price of a stopped pod's volume disk, in dollars per GB and month (its storage
docs: $0.10 while running, within costPerHr, and $0.20 while stopped)."""
HOURS_PER_MONTH = 730.0
CREATE_ATTEMPTS = 5
"""Tries to create a pod (each first looks it up by name) before the launch fails."""
ABSENT_POLLS = 3
ABSENT_MIN_S = 60.0
"""A pod missing from the list that cannot be asked for by id is gone after this many polls
spanning at least this long."""
LEFTOVER_CHECKS = 3
LEFTOVER_SPAN_S = 60.0
"""A failed launch's pod is verified never made after this many lists without it, over this
long."""
TERMINATE_WAIT_S = 120.0
"""How long one terminate waits for the pod to go before it says it failed (and is retried)."""
LAST_READ_S = 15.0
"""How long a stopped run's last log reads may take before its pod is terminated."""


class RunPodBackend(Backend):
    kind = "runpod"
    is_remote = True
    bills = True

    def __init__(
        self,
        name: str,
        api: RunPodApi,
        pod: Mapping[str, Any],
        identity_file: Path,
        project: Path,
        workdir: str = "/workspace",
        env: Mapping[str, str] | None = None,
        setup: str | None = None,
        ssh_user: str = "root",
        start_timeout_s: float = 900.0,
        gpu_interval_s: float = 5.0,
        clock: Callable[[], float] = time.time,
        poll_s: float = 5.0,
    ) -> None:
        super().__init__(name)
        self.api = api
        self.pod = dict(pod)
        """The pod's fields for `podFindAndDeployOnDemand` (gpuTypeId, imageName, ...)."""
        self.identity_file = identity_file
        self.project = project
        self.workdir = workdir
        self.env = dict(env or {})
        self.setup = setup
        self.ssh_user = ssh_user
        self.start_timeout_s = start_timeout_s
        self.gpu_interval_s = gpu_interval_s
        self.clock = clock
        self.poll_s = poll_s
        self._runners: dict[str, SshBackend] = {}
        self._absent: dict[str, tuple[int, float]] = {}
        self._leftover_checks: dict[str, tuple[int, float]] = {}
        self.leftovers_ended: dict[str, list[str]] = {}
        """Run id: pods a failed launch left that `end_leftovers` terminated."""
        """Pod id: consecutive polls it was missing from the list, since when (monotonic)."""

    def run_dir(self, run_id: str) -> str:
        return f"{self.workdir.rstrip('/')}/.cockpit/{run_id}"

    # ---- launch ---------------------------------------------------------------------------

    async def launch(self, spec: RunSpec) -> RunHandle:
        pod = await self._find_or_create(spec)
        try:
            pod = await self._wait_for_ssh(pod["id"])
            ip, port = ssh_address(pod)
            host_key = await self._trust_on_first_use(ip, port)
            runner = self._runner(pod["id"], ip, port, host_key)
            inner = await runner.launch(spec)
        except BaseException:
            await self._terminate_verified(pod["id"])  # never leave a pod billing behind
            raise
        data = {**inner.data, "pod_id": pod["id"], "ip": ip, "port": port, "host_key": host_key}
        return RunHandle(spec.run_id, self.name, inner.run_dir, data)

    def pod_input(self, run_id: str) -> dict[str, Any]:
        key = public_key(self.identity_file)
        env = {**self.pod.get("env", {}), **self.env, "PUBLIC_KEY": key}
        ports = [p for p in str(self.pod.get("ports", "")).split(",") if p.strip()]
        if "22/tcp" not in ports:
            ports.insert(0, "22/tcp")
        fields = {k: v for k, v in self.pod.items() if k not in ("env", "ports") and v is not None}
        return {
            **fields,
            "name": run_id,
            "ports": ",".join(ports),
            "env": [{"key": key, "value": value} for key, value in env.items()],
            "supportPublicIp": True,
            "startSsh": True,
        }

    async def _find_or_create(self, spec: RunSpec) -> dict[str, Any]:
        last: Exception | None = None
        for attempt in range(CREATE_ATTEMPTS):
            try:
                existing = [p for p in await self.api.pods() if p.get("name") == spec.run_id]
                if existing:
                    return existing[0]  # an earlier create went through after all
                return await self.api.create_pod(self.pod_input(spec.run_id))
            except RunPodTransientError as exc:
                last = exc
                await asyncio.sleep(exc.retry_after or min(30.0, 0.5 * 2**attempt))
        raise RunPodError(f"could not create the pod for {spec.run_id}: {last}")

    async def _wait_for_ssh(self, pod_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            try:
                pods = {p["id"]: p for p in await self.api.pods()}
            except RunPodTransientError as exc:
                pods = None
                if time.monotonic() > deadline:
                    raise RunPodError(f"pod {pod_id}: RunPod did not answer: {exc}") from exc
            if pods is not None:
                pod = pods.get(pod_id)
                if pod is None:
                    raise RunPodError(f"pod {pod_id} disappeared while starting")
                if ssh_address(pod, required=False):
                    return pod
            if time.monotonic() > deadline:
                raise RunPodError(
                    f"pod {pod_id} had no public SSH port after {self.start_timeout_s:.0f} s"
                )
            await asyncio.sleep(self.poll_s)

    async def _trust_on_first_use(self, ip: str, port: int) -> str:
        """A pod's host key is new with every pod: accept it on this first connection only,
        and return it to be pinned for the pod's life."""
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            try:
                async with asyncssh.connect(
                    ip, port, username=self.ssh_user, known_hosts=None,
                    client_keys=[str(self.identity_file)], connect_timeout=15,
                ) as conn:  # fmt: skip
                    key = conn.get_server_host_key()
                    assert key is not None
                    return key.export_public_key().decode().strip()
            except (OSError, asyncssh.Error, TimeoutError) as exc:
                if time.monotonic() > deadline:
                    raise RunPodError(f"pod SSH at {ip}:{port} never answered: {exc}") from exc
                await asyncio.sleep(self.poll_s)

    def _runner(self, pod_id: str, ip: str, port: int, host_key: str) -> SshBackend:
        runner = self._runners.get(pod_id)
        if runner is None or (runner.host.host, runner.host.port) != (ip, port):
            pinned: tuple[list[asyncssh.SSHKey], list[Any], list[Any]] = (
                [asyncssh.import_public_key(host_key)],
                [],
                [],
            )
            host = SshHost(f"pod {pod_id}", ip, port, self.ssh_user, [self.identity_file], pinned)
            runner = SshBackend(
                self.name, host, self.project, workdir=self.workdir, env=self.env,
                setup=self.setup, gpu_interval_s=self.gpu_interval_s, clock=self.clock,
            )  # fmt: skip
            self._runners[pod_id] = runner
        return runner

    def _runner_for(self, handle: RunHandle) -> tuple[SshBackend, RunHandle]:
        data = handle.data
        runner = self._runner(data["pod_id"], data["ip"], int(data["port"]), data["host_key"])
        return runner, handle

    # ---- observe --------------------------------------------------------------------------

    async def observe(self, handles: Sequence[RunHandle]) -> dict[str, Observation]:
        if not handles:
            return {}
        try:
            pods = {pod["id"]: pod for pod in await self.api.pods()}  # ONE request per poll
        except RunPodError as exc:
            detail = f"RunPod unreachable; pod state unknown since {time.strftime('%H:%M')}: {exc}"
            if isinstance(exc, RunPodAuthError):
                detail = str(exc)
            return {h.run_id: Observation(RunPhase.UNKNOWN, detail=detail) for h in handles}
        # Each running pod answers over its own SSH connection: asked one after another, a
        # poll of N pods took N round trips; at most OBSERVE_CONCURRENCY at once it takes
        # about N / OBSERVE_CONCURRENCY.
        limit = asyncio.Semaphore(OBSERVE_CONCURRENCY)

        async def one(handle: RunHandle) -> Observation:
            async with limit:
                return await self._observe_one(handle, pods.get(handle.data["pod_id"]))

        observed = await asyncio.gather(*(one(handle) for handle in handles))
        return {handle.run_id: obs for handle, obs in zip(handles, observed, strict=True)}

    async def _confirm_absent(self, pod_id: str) -> tuple[bool, dict[str, Any] | None]:
        """A pod missing from `myself.pods` (eventually consistent): (gone for certain, the
        pod if asking by id found it). Gone means RunPod said so when asked by id, or — when
        it cannot be asked — the pod was missing from every list for ABSENT_POLLS polls over
        at least ABSENT_MIN_S."""
        now = time.monotonic()
        polls, since = self._absent.get(pod_id, (0, now))
        self._absent[pod_id] = (polls + 1, since)
        try:
            found = await self.api.pod(pod_id)
        except RunPodError:
            return polls + 1 >= ABSENT_POLLS and now - since >= ABSENT_MIN_S, None
        if found is not None:
            return False, found
        return True, None

    async def _observe_one(self, handle: RunHandle, pod: dict[str, Any] | None) -> Observation:
        pod_id = handle.data["pod_id"]
        if pod is None:
            gone, pod = await self._confirm_absent(pod_id)
            if gone:
                self._runner_for(handle)[0].mark_finished(handle.run_id)
                return Observation(
                    RunPhase.EXITED, failure="infra",
                    detail=f"pod {pod_id} is gone (terminated outside cockpit?)",
                )  # fmt: skip
            if pod is None:
                polls, since = self._absent[pod_id]
                when = time.localtime(time.time() - (time.monotonic() - since))
                return Observation(
                    RunPhase.UNKNOWN,
                    detail=f"pod {pod_id} missing from RunPod's list since "
                    f"{time.strftime('%H:%M:%S', when)} ({polls} poll(s)); not gone until "
                    "RunPod confirms it",
                )
        else:
            self._absent.pop(pod_id, None)
        if pod.get("desiredStatus") != "RUNNING":
            self._runner_for(handle)[0].mark_finished(handle.run_id)
        rate = float(pod.get("costPerHr") or 0.0)
        runtime = pod.get("runtime") or {}
        uptime = float(runtime.get("uptimeInSeconds") or 0.0)
        status = str(pod.get("lastStatusChange") or "")
        if pod.get("desiredStatus") != "RUNNING":
            preempted = preempted_by(status)
            volume = " (a stopped pod still bills its volume)" if pod.get("volumeInGb") else ""
            return Observation(
                RunPhase.EXITED, uptime_s=uptime, cost_per_hour=rate,
                failure="preempted" if preempted else "infra",
                detail=f"pod {pod['id']} is {pod.get('desiredStatus')}: {status}{volume}",
                still_billing=bool(volume),
                storage_per_hour=float(pod.get("volumeInGb") or 0)
                * STOPPED_VOLUME_PER_GB_MONTH / HOURS_PER_MONTH,
            )  # fmt: skip
        if not runtime:
            return Observation(RunPhase.SETUP, cost_per_hour=rate, detail="pod starting")
        runner, inner = self._runner_for(handle)
        observed = (await runner.observe([inner])).get(handle.run_id)
        if observed is None:
            return Observation(RunPhase.UNKNOWN, uptime_s=uptime, cost_per_hour=rate)
        gpus = runtime.get("gpus") or []
        util = [float(g["gpuUtilPercent"]) for g in gpus if g.get("gpuUtilPercent") is not None]
        mem = [
            float(g["memoryUtilPercent"]) for g in gpus if g.get("memoryUtilPercent") is not None
        ]
        return Observation(
            observed.phase, exit_code=observed.exit_code, uptime_s=uptime, cost_per_hour=rate,
            detail=observed.detail, setup_done=observed.setup_done,
            gpu_util=sum(util) / len(util) if util else None,
            gpu_mem=sum(mem) / len(mem) if mem else None,
        )  # fmt: skip

    # ---- streams, artifacts ---------------------------------------------------------------

    async def stream(
        self, handle: RunHandle, source: LogSource, offset: int
    ) -> AsyncIterator[bytes]:
        runner, inner = self._runner_for(handle)
        async for chunk in runner.stream(inner, source, offset):
            yield chunk

    async def fetch_artifacts(
        self, handle: RunHandle, markers: Sequence[str], dest: Path
    ) -> list[Path]:
        runner, inner = self._runner_for(handle)
        return await runner.fetch_artifacts(inner, markers, dest)

    # ---- stop + terminate -----------------------------------------------------------------

    async def stop(self, handle: RunHandle, grace_s: float) -> None:
        runner, inner = self._runner_for(handle)
        with contextlib.suppress(Exception):  # the pod goes anyway
            await runner.stop(inner, grace_s)  # a clean TERM first, so the run can save
        # What the run wrote after SIGTERM lives on the pod: read it before the pod goes.
        runner.mark_finished(handle.run_id)
        await runner.streams_ended(handle.run_id, LAST_READ_S)
        await self._terminate_verified(handle.data["pod_id"])

    async def end_leftovers(self, run_id: str) -> bool:
        """Terminate any pod named after the run; verified none is left once the list answered
        without one LEFTOVER_CHECKS times over at least LEFTOVER_SPAN_S (a pod created by a
        request that answered an error can show up late)."""
        now = time.monotonic()
        pods = await self.api.pods()  # a RunPod error: looked for again later
        mine = [
            pod for pod in pods
            if pod.get("name") == run_id
            and not terminated(pod)
        ]  # fmt: skip
        for pod in mine:
            await self._terminate_verified(pod["id"])
            self.leftovers_ended.setdefault(run_id, []).append(pod["id"])
        checks, since = (0, now) if mine else self._leftover_checks.get(run_id, (0, now))
        self._leftover_checks[run_id] = (checks + (0 if mine else 1), since)
        done = checks + 1 >= LEFTOVER_CHECKS and now - since >= LEFTOVER_SPAN_S and not mine
        if done:
            self._leftover_checks.pop(run_id, None)
        return done

    def standing_alerts(self) -> dict[str, str]:
        refused = self.api.auth_refused
        return {f"runpod-key:{self.name}": refused} if refused else {}

    async def _terminate_verified(self, pod_id: str, timeout_s: float | None = None) -> None:
        """podStop, podTerminate, then poll until the pod is gone from `myself.pods`;
        retried with backoff; raises if it is still there at the deadline."""
        deadline = time.monotonic() + (TERMINATE_WAIT_S if timeout_s is None else timeout_s)
        delay = 0.5
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                pods = {p["id"]: p for p in await self.api.pods()}
                pod = pods.get(pod_id)
                if pod is None:  # the list is eventually consistent: gone only if RunPod says so
                    pod = await self.api.pod(pod_id)
                if pod is None or terminated(pod):
                    return
                if pod.get("desiredStatus") == "RUNNING":
                    await self.api.stop_pod(pod_id)
                await self.api.terminate_pod(pod_id)
            except RunPodAuthError:
                raise
            except RunPodError as exc:
                last = exc
            await asyncio.sleep(delay)
            delay = min(delay * 2, 15.0)
        raise RunPodError(f"pod {pod_id} is still there after terminate: {last}")

    async def list_billed(self) -> list[RemoteResource]:
        found = []
        for pod in await self.api.pods():
            runtime = pod.get("runtime") or {}
            found.append(
                RemoteResource(
                    backend=self.name,
                    resource_id=f"pod {pod['id']}",
                    run_id=pod.get("name"),
                    age_s=float(runtime.get("uptimeInSeconds") or 0.0),
                    cost_per_hour=float(pod.get("costPerHr") or 0.0),
                    detail=f"{pod.get('desiredStatus')} {pod.get('lastStatusChange') or ''}",
                )
            )
        return found

    async def close(self) -> None:
        for runner in self._runners.values():
            await runner.close()
        await self.api.close()
