"""S3 artifacts against moto's server on 127.0.0.1: markers present or absent, artifact pull,
uploaded logs completing a mirror, and a run that succeeds through markers in the store."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import aioboto3
import pytest
from moto.server import ThreadedMotoServer

from backends.base import LogSource, RunHandle
from backends.s3 import S3Artifacts, S3LogSource
from cockpit.core.config import load_config
from cockpit.core.logparse import MetricParser
from cockpit.core.paths import ProjectPaths
from cockpit.core.protocol import LaunchRequest, StopRequest
from cockpit.store.reader import StoreReader
from cockpit.store.writer import Store
from cockpit.supervisor import Supervisor
from cockpit.supervisor.log_pump import LogPump
from tests.conftest import PLAN, async_wait_for, write_project


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"), ("AWS_ENDPOINT_URL", url),
    ):  # fmt: skip
        monkeypatch.setenv(name, value)
    yield url
    server.stop()


async def put(endpoint: str, key: str, body: bytes, bucket: str = "runs") -> None:
    async with aioboto3.Session().client("s3", endpoint_url=endpoint) as s3:
        buckets = [b["Name"] for b in (await s3.list_buckets())["Buckets"]]
        if bucket not in buckets:
            await s3.create_bucket(Bucket=bucket)
        await s3.put_object(Bucket=bucket, Key=key, Body=body)


async def test_markers_present_absent_and_pulled(endpoint: str, tmp_path: Path) -> None:
    store = S3Artifacts("runs", "exp", endpoint)
    await put(endpoint, "exp/r1/best.pt", b"weights")
    await put(endpoint, "exp/r1/metrics.json", b'{"win_rate": 0.61}')
    assert await store.exists("r1", "best.pt") is True
    assert await store.exists("r1", "missing.pt") is False
    assert await store.read_json("r1", "metrics.json") == {"win_rate": 0.61}
    pulled = await store.pull("r1", ["best.pt", "metrics.json", "nope"], tmp_path / "art")
    assert sorted(p.name for p in pulled) == ["best.pt", "metrics.json"]
    assert (tmp_path / "art" / "best.pt").read_bytes() == b"weights"
    assert store.uri("r1") == "s3://runs/exp/r1/"


async def test_uploaded_logs_complete_the_mirror(endpoint: str, tmp_path: Path) -> None:
    lines = [f'{{"step": {i}, "loss": {1 / (i + 1):.4f}}}' for i in range(50)]
    whole = ("\n".join(lines) + "\n").encode()
    await put(endpoint, "exp/r2/logs/train.log", whole)
    mirror = tmp_path / "train.log"
    mirror.write_bytes(whole[:300])  # the machine went away after 300 bytes
    store = Store(tmp_path / "state.db")
    handle = RunHandle("r2", "pod", "/gone", {})
    source = S3LogSource(S3Artifacts("runs", "exp", endpoint))
    await LogPump(store, source, handle, LogSource.TRAIN, mirror, MetricParser()).run()
    assert mirror.read_bytes() == whole
    assert store.reader.metrics.series("r2", "step", limit=100) == [float(i) for i in range(50)]


async def test_a_run_succeeds_through_markers_in_the_store(endpoint: str, tmp_path: Path) -> None:
    await put(endpoint, "placeholder", b"")  # creates the bucket
    toml = (
        f'[artifacts]\nkind = "s3"\nbucket = "runs"\nprefix = "exp"\nendpoint_url = "{endpoint}"\n'
    )
    project = write_project(tmp_path / "proj", toml)
    (project / "hypotheses.md").write_text(
        PLAN.replace("- [ ] H8: diverges\n", "- [ ] H8: diverges\n- [ ] H9: uploads\n")
    )
    supervisor = Supervisor(project, load_config(project))
    task = asyncio.create_task(supervisor.run_forever(idle_exit_s=3600))
    client = StoreReader(ProjectPaths(project).db)
    try:
        request = client.submit_request(LaunchRequest(hypothesis="H9"), "test")
        run_id = str(await async_wait_for(lambda: (r := client.request(request)) and r.run_id))
        run = await async_wait_for(lambda: (r := client.run(run_id)) and not r.active and r)
        assert run.state == "succeeded", run.detail  # type: ignore[union-attr]
        assert run.spec["env"]["COCKPIT_ARTIFACTS_URI"] == f"s3://runs/exp/{run_id}/"  # type: ignore[union-attr]
        artifacts = ProjectPaths(project).artifacts(run_id)
        assert (artifacts / "metrics.json").read_text() == '{"val_loss": 0.4}'
        assert not (ProjectPaths(project).runs / run_id / "run" / "best.pt").exists()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_progress_json_in_the_store_adds_samples(endpoint: str, tmp_path: Path) -> None:
    await put(endpoint, "placeholder", b"")
    toml = (
        f'[artifacts]\nkind = "s3"\nbucket = "runs"\nprefix = "exp"\nendpoint_url = "{endpoint}"\n'
        "[health]\npoll_seconds = 0.05\n"
    )
    project = write_project(tmp_path / "proj", toml)
    supervisor = Supervisor(project, load_config(project))
    task = asyncio.create_task(supervisor.run_forever(idle_exit_s=3600))
    client = StoreReader(ProjectPaths(project).db)
    try:
        request = client.submit_request(LaunchRequest(hypothesis="H7"), "test")
        run_id = str(await async_wait_for(lambda: (r := client.request(request)) and r.run_id))
        await put(endpoint, f"exp/{run_id}/progress.json", b'{"step": 500, "total_steps": 1000}')
        await async_wait_for(
            lambda: client.metrics.stats(run_id, "total_steps") == (1000.0, 1000.0, 1000.0),
            what="the progress samples",
        )
        assert 500.0 in client.metrics.series(run_id, "step")
        client.submit_request(StopRequest(run_id=run_id), "test")
        await async_wait_for(lambda: (r := client.run(run_id)) and not r.active)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
