"""The SSH backend: runs on any host you can ssh into, over one connection per host.

Code reaches the host as a worktree of its own checkout (when it has the commit) or as an
uploaded `git archive`; the run starts detached under `setsid nohup` writing its logs, pid and
exit code into `<workdir>/.cockpit/<run_id>`, so it survives the connection dropping and cockpit
restarting. Each log source is one channel (`tail -c +N -F`) resumed from the mirrored byte
offset after a reconnect; one status script per host per poll covers every run on it.
"""

from __future__ import annotations

import asyncio
import io
import subprocess
import tarfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import asyncssh

from backends import ssh_scripts as scripts
from backends.base import (
    Backend,
    LogSource,
    Observation,
    RemoteResource,
    RunHandle,
    RunPhase,
    RunSpec,
    run_phase,
    streams_end,
)
from backends.gpu import visible
from backends.gpu_inventory import GpuInfo, inventory_script, parse_inventory_output
from backends.ssh_conn import HostKeyError, HostUnreachable, SshHost
from backends.wrapper import setup_mark

STATUS_TIMEOUT_S = 30.0
"""A status round trip that takes longer means the host hangs: the connection is dropped."""
READ_CHUNK = 256 * 1024
_SKIP_UPLOAD = {".git", ".cockpit", ".venv", "venv", "__pycache__", "node_modules"}


class SshBackend(Backend):
    kind = "ssh"
    is_remote = True
    places_runs = True

    def __init__(
        self,
        name: str,
        host: SshHost,
        project: Path,
        workdir: str = "~",
        env: Mapping[str, str] | None = None,
        setup: str | None = None,
        cost_per_hour: float = 0.0,
        gpu_interval_s: float = 5.0,
        clock: Callable[[], float] = time.time,
        setup_once_per_commit: bool = False,
    ) -> None:
        super().__init__(name)
        self.setup_once_per_commit = setup_once_per_commit
        self.host = host
        self.project = project
        self.workdir = workdir
        self.env = dict(env or {})
        self.setup = setup
        self.cost_per_hour = cost_per_hour
        self.gpu_interval_s = gpu_interval_s
        self.clock = clock
        self._finished: set[str] = set()
        """Runs the last status said had ended: their streams drain and stop."""
        self._open_streams: Counter[str] = Counter()
        self._streams_ended: dict[str, asyncio.Event] = {}

    # ---- paths ----------------------------------------------------------------------------

    def runs_root(self) -> str:
        return self.host.resolve(self.workdir).rstrip("/") + "/.cockpit"

    def run_dir(self, run_id: str) -> str:
        if self.host.home is None:  # before the first connection: resolved at launch
            return f"{self.workdir.rstrip('/')}/.cockpit/{run_id}"
        return f"{self.runs_root()}/{run_id}"

    # ---- launch ---------------------------------------------------------------------------

    async def launch(self, spec: RunSpec) -> RunHandle:
        run_dir, env = await self._prepare(spec)
        pid_line = await self.host.run(scripts.launch(run_dir, env))
        pid, ticks = (int(part) for part in pid_line.split()[:2])
        return RunHandle(
            run_id=spec.run_id,
            backend=self.name,
            run_dir=run_dir,
            data={
                "pid": pid,
                "pgid": pid,
                "start_ticks": ticks,
                "started_at": self.clock(),
                "gpus": spec.env.get("COCKPIT_GPUS", ""),
            },
        )

    async def _prepare(self, spec: RunSpec) -> tuple[str, dict[str, str]]:
        """The run directory with the run's code in it (a worktree, or the commit uploaded),
        and the environment the wrapper runs with."""
        await self.host.connection()  # resolves the home directory for the paths
        run_dir = self.run_dir(spec.run_id)
        answer = await self.host.run(
            scripts.prepare_code(run_dir, self.host.resolve(self.workdir), spec.commit, spec.run_id)
        )
        if answer.strip().endswith("upload"):
            await self._upload_code(spec, run_dir)
        setup = self.setup if self.setup is not None else (spec.setup or "")
        mark = f"{self.runs_root()}/setup-passed"
        return run_dir, {
            **spec.env,
            **self.env,
            "_COCKPIT_SETUP_MARK": setup_mark(mark, spec.commit, setup)
            if self.setup_once_per_commit
            else "",
            "COCKPIT_RUN_ID": spec.run_id,
            "COCKPIT_RUN_DIR": run_dir,
            "COCKPIT_WORKDIR": f"{run_dir}/code",
            "PYTHONUNBUFFERED": "1",
            "_COCKPIT_SETUP": setup,
            "_COCKPIT_COMMAND": spec.command,
        }

    async def _upload_code(self, spec: RunSpec, run_dir: str) -> None:
        archive, what = await asyncio.to_thread(_code_archive, self.project, spec.commit)
        conn = await self.host.connection()
        try:
            async with (
                conn.start_sftp_client() as sftp,
                sftp.open(f"{run_dir}/code.tar", "wb") as remote,
            ):
                await remote.write(archive)
        except (OSError, asyncssh.Error) as exc:
            self.host.broken(exc)
            raise HostUnreachable(f"{self.host.describe()}: upload failed: {exc}") from exc
        await self.host.run(scripts.unpack_code(run_dir, what))

    # ---- observe --------------------------------------------------------------------------

    async def observe(self, handles: Sequence[RunHandle]) -> dict[str, Observation]:
        if not handles:
            return {}
        try:
            output = await self.host.run(
                scripts.status([h.run_dir for h in handles]), timeout=STATUS_TIMEOUT_S
            )
        except (HostUnreachable, HostKeyError, RuntimeError) as exc:
            since = self.host.unreachable_since or self.clock()
            detail = f"{self.host.describe()} unreachable; run state unknown since " + (
                time.strftime("%H:%M", time.localtime(since)) + f" ({exc})"
            )
            return {h.run_id: Observation(RunPhase.UNKNOWN, detail=detail) for h in handles}
        lines = {line.split(" ", 1)[0]: line.split() for line in output.splitlines() if line}
        now = self.clock()
        result = {}
        for handle in handles:
            fields = lines.get(handle.run_dir)
            started = float(handle.data.get("started_at", now))
            if fields is None or len(fields) < 4:
                result[handle.run_id] = Observation(RunPhase.UNKNOWN, detail="no status")
                continue
            _, code, alive, training = fields[:4]
            group_alive = fields[4] == "1" if len(fields) > 4 else alive == "1"
            exit_code = int(code) if code.lstrip("-").isdigit() else None
            phase = run_phase(exit_code, alive == "1", training == "1")
            if streams_end(exit_code is not None, alive == "1", group_alive):
                self._finished.add(handle.run_id)
            result[handle.run_id] = Observation(
                phase=phase,
                exit_code=exit_code,
                uptime_s=max(0.0, now - started),
                cost_per_hour=self.cost_per_hour,
                setup_done=training == "1",
            )
        return result

    # ---- streams --------------------------------------------------------------------------

    async def stream(
        self, handle: RunHandle, source: LogSource, offset: int
    ) -> AsyncIterator[bytes]:
        run_id = handle.run_id
        self._open_streams[run_id] += 1
        try:
            async for chunk in self._stream(handle, source, offset):
                yield chunk
        finally:
            self._open_streams[run_id] -= 1
            if self._open_streams[run_id] <= 0:
                del self._open_streams[run_id]
                if (ended := self._streams_ended.pop(run_id, None)) is not None:
                    ended.set()

    async def streams_ended(self, run_id: str, timeout_s: float) -> bool:
        """Wait (bounded) until every stream of the run has made its last read: what a pod
        must wait for before it is terminated, or the words after SIGTERM are gone with it."""
        if not self._open_streams.get(run_id):
            return True
        ended = self._streams_ended.setdefault(run_id, asyncio.Event())
        try:
            await asyncio.wait_for(ended.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def _stream(
        self, handle: RunHandle, source: LogSource, offset: int
    ) -> AsyncIterator[bytes]:
        if source is LogSource.GPU:
            async for chunk in self._gpu(handle, offset):
                yield chunk
            return
        async for chunk in self._tail_file(handle, f"{handle.run_dir}/{source.value}.log", offset):
            yield chunk

    async def _tail_file(self, handle: RunHandle, path: str, offset: int) -> AsyncIterator[bytes]:
        """A file of the run on the host from `offset` on, followed until the run ended (then
        one last read), resumed from where it was after a reconnect."""
        position = offset
        while True:
            finished = handle.run_id in self._finished
            try:
                conn = await self.host.connection()
                if finished:  # the run ended: one last read from where we are, then done
                    result = await conn.run(scripts.tail(path, position, False), encoding=None)
                    rest = result.stdout if isinstance(result.stdout, bytes) else b""
                    if rest:
                        yield rest
                    return
                process = await conn.create_process(
                    scripts.tail(path, position, True), encoding=None
                )
                try:
                    while True:
                        try:
                            chunk = await asyncio.wait_for(process.stdout.read(READ_CHUNK), 1.0)
                        except TimeoutError:
                            if handle.run_id in self._finished:
                                break
                            continue
                        if not chunk:
                            break  # the channel ended: reconnect and resume from `position`
                        position += len(chunk)
                        yield chunk
                        if handle.run_id in self._finished:
                            break  # one last plain read follows
                finally:
                    process.close()
            except (HostUnreachable, HostKeyError):
                if handle.run_id in self._finished:
                    return  # the run ended and its host is gone: what is mirrored is all there is
                await asyncio.sleep(1.0)
            except (OSError, asyncssh.Error) as exc:
                self.host.broken(exc)
                await asyncio.sleep(0.5)

    def standing_alerts(self) -> dict[str, str]:
        error = self.host.key_error
        return {f"host-key:{self.name}": error} if error else {}

    def mark_finished(self, run_id: str) -> None:
        """The run ended (said by someone other than this host's status): drain and stop."""
        self._finished.add(run_id)

    async def _gpu(self, handle: RunHandle, offset: int) -> AsyncIterator[bytes]:
        announce = offset == 0
        while handle.run_id not in self._finished:
            try:
                conn = await self.host.connection()
                process = await conn.create_process(
                    scripts.gpu(self.gpu_interval_s, announce, visible(handle.data.get("gpus"))),
                    encoding=None,
                )
                try:
                    while handle.run_id not in self._finished:
                        try:
                            chunk = await asyncio.wait_for(process.stdout.read(READ_CHUNK), 1.0)
                        except TimeoutError:
                            continue
                        if not chunk:
                            break
                        announce = False
                        yield chunk
                finally:
                    process.close()
            except (HostUnreachable, HostKeyError):
                await asyncio.sleep(1.0)
            except (OSError, asyncssh.Error) as exc:
                self.host.broken(exc)
                await asyncio.sleep(0.5)

    # ---- stop, artifacts, orphans ---------------------------------------------------------

    async def stop(self, handle: RunHandle, grace_s: float) -> None:
        answer = await self.host.run(
            scripts.stop(int(handle.data["pgid"]), grace_s), timeout=grace_s + 30
        )
        if answer.strip() != "gone":
            raise RuntimeError(
                f"process group {handle.data['pgid']} of {handle.run_id} on "
                f"{self.host.describe()} survived SIGKILL"
            )
        self._finished.add(handle.run_id)

    async def fetch_artifacts(
        self, handle: RunHandle, markers: Sequence[str], dest: Path
    ) -> list[Path]:
        dest.mkdir(parents=True, exist_ok=True)
        conn = await self.host.connection()
        copied = []
        try:
            async with conn.start_sftp_client() as sftp:
                for marker in markers:
                    remote = marker if marker.startswith("/") else f"{handle.run_dir}/{marker}"
                    if await sftp.isfile(remote):
                        target = dest / Path(marker).name
                        await sftp.get(remote, str(target))
                        copied.append(target)
        except (OSError, asyncssh.Error) as exc:
            self.host.broken(exc)
            raise HostUnreachable(f"{self.host.describe()}: artifact fetch failed: {exc}") from exc
        return copied

    async def gpu_inventory(self) -> list[GpuInfo]:
        """`nvidia-smi` on the host: its GPUs and the processes on them, in one round trip."""
        return parse_inventory_output(await self.host.run(inventory_script(), timeout=30))

    async def list_billed(self) -> list[RemoteResource]:
        await self.host.connection()
        output = await self.host.run(scripts.list_runs(self.runs_root()))
        found = []
        for line in output.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                found.append(
                    RemoteResource(
                        backend=self.name,
                        resource_id=f"{self.host.name}:{parts[0]}",
                        run_id=parts[0],
                        age_s=float(parts[1]),
                        cost_per_hour=self.cost_per_hour,
                    )
                )
        return found

    async def close(self) -> None:
        await self.host.close()


def _code_archive(project: Path, commit: str) -> tuple[bytes, str]:
    """The commit as a tar (`git archive`), or the project's files when it is not in git."""
    if commit != "no-git":
        result = subprocess.run(
            ["git", "archive", "--format=tar", commit],
            cwd=project, capture_output=True, check=False, timeout=300,
        )  # fmt: skip
        if result.returncode == 0:
            return result.stdout, f"git archive {commit[:12]}"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(project.rglob("*")):
            relative = path.relative_to(project)
            if set(relative.parts) & _SKIP_UPLOAD or not path.is_file():
                continue
            tar.add(path, arcname=str(relative))
    return buffer.getvalue(), "the project's files (not a git repository)"


def host_from_config(name: str, settings: Any) -> SshHost:
    """An `SshHost` from an `[backends.NAME] kind = "ssh"` table."""
    keys = [Path(settings.identity_file).expanduser()] if settings.identity_file else None
    known = str(Path(settings.known_hosts).expanduser()) if settings.known_hosts else None
    return SshHost(
        name,
        settings.host,
        settings.port,
        settings.user,
        keys,
        known,
        settings.connect_timeout_seconds,
    )
