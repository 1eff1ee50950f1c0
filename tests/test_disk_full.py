"""Finding 6 of the lose-nothing issue: a full disk stops the log mirror where it is, says so
without needing the disk, and the mirror resumes byte-exact when there is room again.

The project (store and mirrors) lives on a 4 MiB tmpfs that the test fills; the trainer's own
files live on the normal disk, as a remote run's would. Mounting needs root (CI runs as root)."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.local import LocalBackend
from cockpit.cli import status
from cockpit.core.config import load_config
from cockpit.core.paths import ProjectPaths
from cockpit.core.protocol import LaunchRequest
from cockpit.store.reader import StoreReader
from cockpit.supervisor import Supervisor
from tests.conftest import async_wait_for, write_project

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="mounting the small tmpfs this test fills needs root"
)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(path: Path) -> None:
    """Write `path` until the disk has no room left."""
    with open(path, "wb", buffering=0) as handle:
        block = b"\0" * 65536
        while True:
            try:
                handle.write(block)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
        for size in (4096, 512, 1):  # the last pages' slack
            while True:
                try:
                    handle.write(b"\0" * size)
                except OSError:
                    break


async def test_a_full_disk_pauses_the_mirror_and_it_resumes_without_a_gap(
    small_disk: Path, tmp_path: Path
) -> None:
    notes = tmp_path / "notifications.jsonl"
    project = write_project(
        small_disk / "proj", f"[notify]\ncommand = \"cat >> '{notes}'; echo >> '{notes}'\"\n"
        "tmux = false\n"
    )  # fmt: skip
    runs_root = tmp_path / "runs"  # the run's own files: another disk, as a pod's would be

    def backend(name, config, paths, clock):  # type: ignore[no-untyped-def]
        return LocalBackend(name, runs_root, cost_per_hour=3.6, gpu_interval_s=0.2, clock=clock)

    paths = ProjectPaths(project)
    supervisor = Supervisor(project, load_config(project), backend_factory=backend)
    task = asyncio.create_task(supervisor.run_forever(idle_exit_s=3600))
    client = StoreReader(paths.db)
    try:
        request = client.submit_request(LaunchRequest(hypothesis="H4"), "test")
        run_id = await async_wait_for(
            lambda: (found := client.request(request)) and found.run_id, what="the launch"
        )
        run_dir = runs_root / str(run_id) / "run"
        mirror = paths.mirror_log(str(run_id), "train")
        await async_wait_for(
            lambda: mirror.exists() and b'"step": 99' in mirror.read_bytes(), what="step 99"
        )
        filler = small_disk / "filler"
        fill(filler)
        # The store's own files have slack too: fill until a commit fails, as the pump's would.
        probe = sqlite3.connect(paths.db, isolation_level=None, timeout=5)
        try:
            for extra in range(100):
                try:
                    probe.execute(
                        "INSERT INTO events (run_id, t, kind, message) VALUES (NULL, 0, 'x', ?)",
                        ("x" * 4096,),
                    )
                except sqlite3.OperationalError as exc:
                    assert "full" in str(exc)
                    break
                fill(small_disk / f"filler{extra}")
            else:
                pytest.fail("the store kept finding room")
        finally:
            probe.close()
        (run_dir / "release").write_text("")  # steps 100-149 now: no room for them
        await async_wait_for(
            lambda: notes.exists() and "disk-full" in notes.read_text(), what="the alert"
        )
        sent = [json.loads(line) for line in notes.read_text().splitlines() if line]
        note = next(n for n in sent if n["kind"] == "disk-full")
        assert note["run_id"] == run_id and "resumes where it stopped" in note["message"]
        assert status.gather(project)["disk_full"] is True
        assert b'"step": 149' not in mirror.read_bytes()
        tracked = supervisor.pumps.get(str(run_id))
        assert tracked is not None and not tracked.drained  # waiting, not given up

        for path in small_disk.glob("filler*"):
            path.unlink()
        await async_wait_for(lambda: b'"step": 149' in mirror.read_bytes(), what="the resume")
        (run_dir / "release2").write_text("")
        run = await async_wait_for(
            lambda: (found := client.run(str(run_id))) and not found.active and found,
            what="the end",
        )
        assert run.state == "succeeded"
        assert mirror.read_bytes() == (run_dir / "train.log").read_bytes()  # no gap, no repeat
        steps = client.metrics.series(str(run_id), "step")
        assert [int(step) for step in steps] == list(range(200))
        resumed = [e.message for e in client.events(str(run_id)) if e.kind == "disk"]
        assert any(m.startswith("train mirror resumes at byte") for m in resumed)
        said = [line for line in notes.read_text().splitlines() if '"disk-full"' in line]
        assert len(said) == 1  # said once
        assert status.gather(project)["disk_full"] is False
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        client.close()
