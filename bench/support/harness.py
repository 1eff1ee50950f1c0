"""A throwaway project whose run is `flood.py`, a real `cockpit supervise` process for it, and
helpers to start the flood and end the run."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from cockpit.core.paths import ProjectPaths
from cockpit.core.protocol import LaunchRequest, StopRequest
from cockpit.store.reader import StoreReader
from cockpit.store.supervisor_lock import SupervisorLock

FLOOD = Path(__file__).with_name("flood.py")
PLAN = """# bench — flood

State: in_progress

## Hypotheses
- [ ] H1: floods the log

## Skip list
- smoke test を skip

## Iteration log
| iter | start | hypothesis | plan | run_id | primary metric | verdict | result | analysis |
|---|---|---|---|---|---|---|---|---|
"""


def wait_for(predicate: Callable[[], object], timeout: float = 120.0, what: str = "") -> object:
    """Re-check `predicate` until it holds (a benchmark harness polls; tests wait on events)."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.01)
    return value


class FloodProject:
    def __init__(self, root: Path, lines: int, rate: float = 0.0) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.go = root / "go.fifo"
        self.release = root / "release.fifo"
        os.mkfifo(self.go)
        os.mkfifo(self.release)
        command = " ".join(
            shlex.quote(str(part))
            for part in (sys.executable, FLOOD, self.go, self.release, lines, rate)
        )
        (root / "hypotheses.md").write_text(PLAN, encoding="utf-8")
        (root / "cockpit.toml").write_text(
            f"command = {command!r}\n"
            "success_markers = []\n"
            "[backends.local]\n"
            'kind = "local"\n'
            "cost_per_hour = 2.0\n"
            "[supervisor]\n"
            "idle_exit_seconds = 600\n",
            encoding="utf-8",
        )
        self.paths = ProjectPaths(root)
        self.supervisor: subprocess.Popen[bytes] | None = None
        self.run_id = ""

    def launch(self) -> str:
        """Start `cockpit supervise`, launch H1 and wait until it runs (blocked on `go`)."""
        command = [sys.executable, "-m", "cockpit", "supervise", "--project", str(self.root)]
        if profile := os.environ.get("BENCH_PROFILE_SUPERVISOR"):  # collapsed stacks, py-spy
            command = ["py-spy", "record", "-r", "200", "-f", "raw", "-o", profile, "--", *command]
        with open(self.root / "supervisor.err", "wb") as errors:  # read if the launch fails
            self.supervisor = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=errors, start_new_session=True
            )
        wait_for(SupervisorLock(self.paths.lock).is_held_elsewhere, what="the supervisor")
        client = StoreReader(self.paths.db)
        request = client.submit_request(LaunchRequest(hypothesis="H1"), "bench")

        def running() -> str | None:
            assert self.supervisor is not None
            if self.supervisor.poll() is not None:
                tail = (self.root / "supervisor.err").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the supervisor exited ({self.supervisor.returncode}):\n{tail}")
            row = client.request(request)
            if row is not None and row.status not in ("pending", "running", "done"):
                raise RuntimeError(f"the launch request ended {row.status}: {row.result}")
            if row is None or not row.run_id:
                return None
            run = client.run(row.run_id)
            if run is not None and not run.active:
                raise RuntimeError(f"run {run.id} ended {run.state} before it ran: {run.detail}")
            return row.run_id if run is not None and run.state == "running" else None

        self.run_id = str(wait_for(running, what="the launch"))
        client.close()
        return self.run_id

    def start_flood(self) -> None:
        with open(self.go, "w"):
            pass

    @property
    def train_log(self) -> Path:
        return self.paths.runs / self.run_id / "run" / "train.log"

    def close(self) -> None:
        """End the run through the product's own stop path (also a launch that never got to
        run), then stop the supervisor."""
        if self.supervisor is not None and self.supervisor.poll() is None:
            client = StoreReader(self.paths.db)
            active = [run.id for run in client.runs() if run.active]
            for run_id in active:
                client.submit_request(StopRequest(run_id=run_id), "bench")
            wait_for(lambda: not any(run.active for run in client.runs()), what="the runs to stop")
            client.close()
        if self.supervisor is not None:
            if os.environ.get("BENCH_PROFILE_SUPERVISOR"):
                os.killpg(self.supervisor.pid, signal.SIGINT)  # py-spy writes on interrupt
            else:
                self.supervisor.terminate()
            try:
                self.supervisor.wait(30)
            except subprocess.TimeoutExpired:
                self.supervisor.kill()
                self.supervisor.wait()
