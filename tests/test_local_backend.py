"""The local backend with real process groups: launch, stream, stop, re-attach."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import pytest

from backends import processes as procs
from backends.base import LogSource, RunPhase, RunSpec
from backends.gpu import NO_GPU_LINE, NvmlSampler
from backends.local import LocalBackend
from tests.conftest import FIXTURES, async_wait_for


def spec(
    project: Path, hypothesis: str, run_id: str, setup: str | None = "echo preparing"
) -> RunSpec:
    command = (
        f"{shlex.quote(sys.executable)} {shlex.quote(str(FIXTURES / 'trainer.py'))} {hypothesis}"
    )
    return RunSpec(
        run_id=run_id,
        hypothesis=hypothesis,
        plan="hypotheses.md",
        command=command,
        setup=setup,
        workdir=str(project),
        commit="abc123",
    )


async def collect(backend: LocalBackend, handle, source: LogSource, offset: int = 0) -> bytes:  # type: ignore[no-untyped-def]
    chunks = [chunk async for chunk in backend.stream(handle, source, offset)]
    return b"".join(chunks)


class NoGpu(NvmlSampler):
    """NVML as on a machine without a driver (this one): the real loader, which fails."""


async def test_launch_streams_all_sources_and_exits(tmp_path: Path) -> None:
    backend = LocalBackend("local", tmp_path / "runs", cost_per_hour=3.6, gpu_interval_s=0.05)
    handle = await backend.launch(spec(tmp_path, "H1", "h1-x"))
    train = await collect(backend, handle, LogSource.TRAIN)
    onstart = await collect(backend, handle, LogSource.ONSTART)
    gpu = await collect(backend, handle, LogSource.GPU)
    run_dir = tmp_path / "runs" / "h1-x" / "run"
    assert f"env run_id=h1-x run_dir={run_dir}".encode() in train
    assert b'{"step": 19, "loss": 0.05}' in train
    assert b"[cockpit] run h1-x on local, commit abc123" in onstart
    assert b"preparing" in onstart and b"[cockpit] setup done" in onstart
    if not NoGpu().open():
        assert gpu.decode().startswith(NO_GPU_LINE)
    observed = await backend.observe([handle])
    assert observed["h1-x"].phase is RunPhase.EXITED and observed["h1-x"].exit_code == 0
    assert observed["h1-x"].cost_per_hour == 3.6 and observed["h1-x"].setup_done
    copied = await backend.fetch_artifacts(
        handle, ["best.pt", "metrics.json", "nope"], tmp_path / "a"
    )
    assert sorted(p.name for p in copied) == ["best.pt", "metrics.json"]


async def test_stream_resumes_from_an_offset(tmp_path: Path) -> None:
    backend = LocalBackend("local", tmp_path / "runs")
    handle = await backend.launch(spec(tmp_path, "H1", "h1-y"))
    whole = await collect(backend, handle, LogSource.TRAIN)
    assert await collect(backend, handle, LogSource.TRAIN, 100) == whole[100:]


async def test_failures_have_exit_codes(tmp_path: Path) -> None:
    backend = LocalBackend("local", tmp_path / "runs")
    handle = await backend.launch(spec(tmp_path, "H2", "h2-x"))
    train = await collect(backend, handle, LogSource.TRAIN)
    assert b"RuntimeError: boom" in train
    assert (await backend.observe([handle]))["h2-x"].exit_code == 1
    bad_setup = await backend.launch(spec(tmp_path, "H1", "h1-z", setup="echo nope; exit 3"))
    onstart = await collect(backend, bad_setup, LogSource.ONSTART)
    assert b"setup failed with exit code 3" in onstart
    assert (await backend.observe([bad_setup]))["h1-z"].exit_code == 3
    assert (tmp_path / "runs" / "h1-z" / "run" / "train.log").read_bytes() == b""


async def test_stop_kills_the_whole_group_and_verifies(tmp_path: Path) -> None:
    backend = LocalBackend("local", tmp_path / "runs")
    handle = await backend.launch(spec(tmp_path, "H5", "h5-x", setup=None))
    grandchild_file = tmp_path / "runs" / "h5-x" / "run" / "grandchild.pid"
    await async_wait_for(grandchild_file.exists, what="the grandchild to start")
    grandchild = int(grandchild_file.read_text())
    assert (await backend.observe([handle]))["h5-x"].phase is RunPhase.TRAINING
    await backend.stop(handle, grace_s=2)
    assert not procs.group_alive(int(handle.data["pgid"]))
    assert not procs.is_alive(grandchild, None)
    observed = await backend.observe([handle])
    assert observed["h5-x"].phase is RunPhase.EXITED
    await backend.stop(handle, grace_s=2)  # stopping a stopped run is a no-op


async def test_a_new_backend_reattaches_by_pid_and_start_time(tmp_path: Path) -> None:
    first = LocalBackend("local", tmp_path / "runs")
    handle = await first.launch(spec(tmp_path, "H5", "h5-r", setup=None))
    second = LocalBackend("local", tmp_path / "runs")  # as in a restarted supervisor
    again = await second.launch(spec(tmp_path, "H5", "h5-r", setup=None))
    assert again.data["pid"] == handle.data["pid"]  # launch is idempotent on the run id
    assert (await second.observe([again]))["h5-r"].phase is not RunPhase.EXITED
    listed = await second.list_billed()
    assert [item.run_id for item in listed] == ["h5-r"]
    # A reused pid (same pid, other start time) is not our process.
    forged = type(handle)(
        handle.run_id,
        handle.backend,
        handle.run_dir,
        {**handle.data, "start_ticks": int(handle.data["start_ticks"]) + 1},
    )
    assert (await second.observe([forged]))["h5-r"].phase is RunPhase.EXITED
    await second.stop(again, grace_s=2)
    assert await second.list_billed() == []


def test_start_time_identifies_this_process() -> None:
    me = os.getpid()
    assert procs.is_alive(me, procs.start_time(me))
    assert not procs.is_alive(me, (procs.start_time(me) or 0) + 5)


class FakeNvml:
    """NVML's API shape for one H100, for the path this machine (no GPU) cannot take for real."""

    class _Memory:
        used = 71234 * 1024 * 1024
        total = 81559 * 1024 * 1024

    class _Util:
        gpu = 97

    def nvmlInit(self) -> None: ...
    def nvmlShutdown(self) -> None: ...
    def nvmlDeviceGetCount(self) -> int:
        return 1

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetName(self, handle: int) -> bytes:
        return b"NVIDIA H100 80GB HBM3"

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> object:
        return self._Util()

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> object:
        return self._Memory()

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        return 64

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        raise RuntimeError("not supported")  # real drivers do this: shown as [N/A]

    def nvmlDeviceGetUUID(self, handle: int) -> bytes:
        return b"GPU-5f0e2b1c"

    def nvmlDeviceGetComputeRunningProcesses(self, handle: int) -> list[object]:
        class Process:
            pid = 4242

        return [Process()]


async def test_this_machines_gpus_for_placement_come_from_nvml(tmp_path: Path) -> None:
    """Issue 20: the local backend's inventory (NVML's API shape; this machine has no GPU)."""
    from backends.gpu_inventory import GpuInfo

    backend = LocalBackend(
        "local", tmp_path / "runs", sampler_factory=lambda: NvmlSampler(loader=FakeNvml)
    )
    assert await backend.gpu_inventory() == [
        GpuInfo(0, "GPU-5f0e2b1c", "NVIDIA H100 80GB HBM3", 81559.0, 71234.0, (4242,),
                97.0, 64.0, None)
    ]  # fmt: skip

    sampler = NvmlSampler(loader=FakeNvml)
    assert sampler.open()
    assert len(sampler.sample_lines()) == 1 and sampler.sample_lines(only=[1]) == []

    def no_driver() -> object:
        raise OSError("NVML Shared Library Not Found")

    none = LocalBackend("local", tmp_path / "runs", sampler_factory=lambda: NvmlSampler(no_driver))
    assert await none.gpu_inventory() == []  # no GPU: runs take slots


async def test_gpu_samples_in_nvidia_smi_format(tmp_path: Path) -> None:
    backend = LocalBackend(
        "local",
        tmp_path / "runs",
        gpu_interval_s=0.01,
        sampler_factory=lambda: NvmlSampler(loader=FakeNvml),
    )
    handle = await backend.launch(spec(tmp_path, "H5", "h5-g", setup=None))
    stream = backend.stream(handle, LogSource.GPU, 0)
    first = (await anext(stream)).decode().splitlines()[0]
    await stream.aclose()
    await backend.stop(handle, grace_s=2)
    assert first == "0, NVIDIA H100 80GB HBM3, 97, 71234, 81559, 64, [N/A]"
    from cockpit.core.gpuparse import parse_gpu_line

    sample = parse_gpu_line(first)
    assert sample is not None and sample.util == 97 and sample.power_w is None


async def test_an_unreadable_exit_code_is_unknown_never_killed(tmp_path: Path) -> None:
    """A full disk leaves the wrapper's exit code empty (`exit_code.tmp` written empty, never
    renamed) or unreadable: the outcome is `unknown` — not `killed`, which auto-recover would
    relaunch (issue 14, finding 6)."""
    from cockpit.core import health

    backend = LocalBackend("local", tmp_path / "runs")
    handle = await backend.launch(spec(tmp_path, "H1", "h1-u", setup=None))
    await collect(backend, handle, LogSource.TRAIN)  # to its end: the run is over
    run_dir = tmp_path / "runs" / "h1-u" / "run"
    (run_dir / "exit_code").unlink()
    (run_dir / "exit_code.tmp").write_text("")  # what `echo $rc > ...` leaves on a full disk
    for leave in ("tmp only", "empty file"):
        if leave == "empty file":
            (run_dir / "exit_code").write_text("")
        obs = (await backend.observe([handle]))["h1-u"]
        assert (obs.phase, obs.exit_code, obs.failure) == (RunPhase.EXITED, None, "unknown")
        assert "exit code could not be read" in obs.detail
        facts = health.RunFacts(state="running", logs_drained=True)
        actions = health.decide(facts, obs, health.Policy(), 0.0)
        failure = next(a for a in actions if isinstance(a, health.SetState)).failure
        assert failure is not None and failure.kind == "unknown"
        assert any(isinstance(a, health.NoRelaunch) for a in actions)


async def test_an_exit_code_written_but_not_renamed_is_read(tmp_path: Path) -> None:
    backend = LocalBackend("local", tmp_path / "runs")
    handle = await backend.launch(spec(tmp_path, "H2", "h2-t", setup=None))
    await collect(backend, handle, LogSource.TRAIN)
    run_dir = tmp_path / "runs" / "h2-t" / "run"
    (run_dir / "exit_code").rename(run_dir / "exit_code.tmp")  # killed between echo and mv
    obs = (await backend.observe([handle]))["h2-t"]
    assert (obs.phase, obs.exit_code, obs.failure) == (RunPhase.EXITED, 1, None)


@pytest.mark.parametrize(
    ("exit_code", "alive", "group", "training", "phase", "ends"),
    [
        (None, True, True, False, "setup", False),
        (None, True, True, True, "training", False),
        (0, True, True, True, "exited", True),  # returned; an orphaned worker holds nothing
        (None, False, True, True, "exited", False),  # killed wrapper, trainer still writing
        (None, False, False, True, "exited", True),
        (137, False, False, False, "exited", True),
    ],
)
def test_local_and_ssh_judge_a_wrapped_run_alike(
    exit_code: int | None, alive: bool, group: bool, training: bool, phase: str, ends: bool
) -> None:
    """Both backends read the wrapper's facts their own way and judge them with these."""
    from backends.base import run_phase, streams_end

    assert run_phase(exit_code, alive, training) == phase
    assert streams_end(exit_code is not None, alive, group) is ends
