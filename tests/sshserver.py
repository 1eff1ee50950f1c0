"""An in-process SSH server on 127.0.0.1 for tests: runs commands with /bin/sh on this machine
(so "the host" is a temporary directory here), serves SFTP, and can be killed and restarted on
the same port to test reconnects. Follows the recipe and traps in FACTS.md."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

import asyncssh

FAKE_NVIDIA_SMI = """#!/bin/sh
# Prints samples like nvidia-smi --query-gpu=... -l N (with the [N/A] fields real drivers print);
# asked for the inventory (uuid among the fields) or the compute processes, prints the files
# beside it: gpus.csv (one row per GPU) and apps.csv (processes: gpu_uuid, pid, used_memory).
here=$(dirname "$0")
case "$*" in
  *--query-compute-apps*) cat "$here/apps.csv" 2>/dev/null; exit 0 ;;
  *uuid*) cat "$here/gpus.csv"; exit 0 ;;
esac
interval=1
while [ $# -gt 0 ]; do [ "$1" = "-l" ] && interval=$2; shift; done
i=0
while true; do
  if [ $((i % 4)) -eq 3 ]; then echo "0, NVIDIA H100 80GB HBM3, [N/A], 71234, 81559, 58, [N/A]"
  else echo "0, NVIDIA H100 80GB HBM3, 9$((i % 10)), 71234, 81559, 64, 612.41"; fi
  i=$((i + 1)); sleep "$interval"
done
"""


def gpu_rows(count: int, used_mb: int = 512) -> str:
    """`count` H100s as nvidia-smi's inventory query prints them."""
    return "".join(
        f"{i}, GPU-{i:08d}-fake, NVIDIA H100 80GB HBM3, 81559, {used_mb}, {10 * i}, {40 + i}, "
        f"{100.5 + i}\n"
        for i in range(count)
    )


class SshTestServer:
    def __init__(self, root: Path, with_gpu: bool = True, gpus: int = 1) -> None:
        self.root = root
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        self.client_key = asyncssh.generate_private_key("ssh-ed25519")
        self.port = 0
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._connections: set[asyncssh.SSHServerConnection] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        bin_dir = root / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        if with_gpu:
            smi = bin_dir / "nvidia-smi"
            smi.write_text(FAKE_NVIDIA_SMI)
            smi.chmod(0o755)
            (bin_dir / "gpus.csv").write_text(gpu_rows(gpus))
        self.bin_dir = bin_dir
        self.env = {**os.environ, "HOME": str(root / "home"), "PATH": f"{bin_dir}:/usr/bin:/bin"}
        (root / "home").mkdir(exist_ok=True)
        self.key_file = root / "client_key"
        self.key_file.write_bytes(self.client_key.export_private_key())
        self.key_file.chmod(0o600)
        self.known_hosts = root / "known_hosts"

    def trust(self, port: int) -> None:
        line = self.host_key.export_public_key().decode().strip()
        self.known_hosts.write_text(f"[127.0.0.1]:{port} {line}\n")

    async def start(self, port: int = 0) -> int:
        server = self

        class Server(asyncssh.SSHServer):
            def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
                server._connections.add(conn)

            def connection_lost(self, exc: Exception | None) -> None:
                pass

        self._acceptor = await asyncssh.listen(
            "127.0.0.1",
            port,
            server_factory=Server,
            server_host_keys=[self.host_key],
            authorized_client_keys=asyncssh.import_authorized_keys(
                self.client_key.export_public_key().decode()
            ),
            process_factory=self._handle,
            sftp_factory=True,
            encoding=None,
        )
        self.port = self._acceptor.sockets[0].getsockname()[1]
        self.trust(self.port)
        return self.port

    async def _handle(self, process: asyncssh.SSHServerProcess) -> None:
        """Run the command; copy its output until it exits, or kill its group when the
        client closes the channel first (a cancelled `tail -F`)."""
        command = process.command or "sh"
        current = asyncio.current_task()
        if current is not None:
            self._handlers.add(current)
            current.add_done_callback(self._handlers.discard)
        child = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", command, cwd=self.env["HOME"], env=self.env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=True,
        )  # fmt: skip
        assert child.stdin and child.stdout and child.stderr

        async def copy_out(reader: asyncio.StreamReader, writer: asyncssh.SSHWriter) -> None:
            while data := await reader.read(65536):
                writer.write(data)

        async def copy_in() -> None:
            assert child.stdin is not None
            try:
                while data := await process.stdin.read(65536):
                    child.stdin.write(data)
                    await child.stdin.drain()
            except (asyncssh.Error, OSError, BrokenPipeError):
                pass
            finally:
                child.stdin.close()

        pumps = [
            asyncio.ensure_future(copy_out(child.stdout, process.stdout)),
            asyncio.ensure_future(copy_out(child.stderr, process.stderr)),
        ]
        feeder = asyncio.ensure_future(copy_in())
        exited = asyncio.ensure_future(child.wait())
        closed = asyncio.ensure_future(process.wait_closed())
        try:
            await asyncio.wait({exited, closed}, return_when=asyncio.FIRST_COMPLETED)
            if exited.done():
                await asyncio.gather(*pumps, return_exceptions=True)
                process.exit(exited.result())
        except (asyncssh.Error, OSError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGKILL)
            for task in (*pumps, feeder, closed):
                task.cancel()
            # Reap the child here, while the loop runs: a transport collected after the loop
            # closed warns ("Event loop is closed") at the end of the test session.
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(exited), 5)

    async def kill(self) -> None:
        """The server dies: no more listening, every connection cut."""
        if self._acceptor is not None:
            self._acceptor.close()
            await self._acceptor.wait_closed()
            self._acceptor = None
        for conn in list(self._connections):
            conn.abort()
        self._connections.clear()
        if self._handlers:  # their commands reaped before the test's loop ends
            _, pending = await asyncio.wait(list(self._handlers), timeout=10)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5)

    async def restart(self) -> None:
        await self.start(self.port)
