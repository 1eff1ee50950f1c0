"""The GPU view (`u`, issue 20): every GPU of every host, the run on it or another process,
load and memory bars, a utilisation sparkline; Enter opens a GPU's run. A snapshot with two
hosts of four GPUs each, and the lines themselves as a table."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import DataTable

from cockpit.core.paths import ProjectPaths
from cockpit.store.gpu_table import GpuHost, GpuRow, read_gpus, record_gpus
from cockpit.store.writer import Store
from cockpit.ui.app import CockpitApp
from cockpit.ui.gpu_lines import gpu_lines, sparkline
from cockpit.ui.screens.gpu_view import GpuView
from cockpit.ui.screens.main import MainScreen
from tests.test_snapshots import make_app
from tests.uihelp import MessageLog, table_laid_out
from tools.showcase import NOW, record, settled


def _gpu(host: str, index: int, util: float, used_gb: float, pids: tuple[int, ...] = ()) -> GpuRow:
    return GpuRow(host, index, "NVIDIA H100 80GB HBM3", f"GPU-{host}-{index}", used_gb * 1024,
                  81559, util, 40 + index * 3, 120 + util * 5, pids)  # fmt: skip


def with_two_hosts(tmp_path: Path) -> CockpitApp:
    """lab1: the shown run (H5) on GPUs 0-1, another user's job on GPU 2, GPU 3 free; lab2: a
    second run on GPU 0, the rest free; and a RunPod pod's two GPUs (not placed: from its gpu
    source's samples)."""
    app = make_app(tmp_path, read_only=False)
    store = Store(ProjectPaths(app.project).db)
    store.update_run("h5-5b5b5b", host="lab1", gpus=(0, 1), backend="lab1")
    second = replace(record("h2-2c2c2c", "H2", "running", NOW - 300), host="lab2")
    store.create_run(second)
    store.update_run("h2-2c2c2c", host="lab2", gpus=(0,), backend="lab2")
    pod = replace(record("h3-3e3e3e", "H3", "running", NOW - 120), backend="pod")
    store.create_run(pod)
    store.add_metrics("h3-3e3e3e", [
        (NOW, None, key, value)
        for key, value in (("gpu_util", 88.0), ("gpu_mem", 71.0), ("gpu_temp", 61.0),
                           ("gpu_power", 512.0), ("gpu_util1", 12.0), ("gpu_mem1", 9.0))
    ])  # fmt: skip
    for step in range(24):  # a history: each ask adds one sample
        wave = (step * 13) % 40
        record_gpus(store.conn, "lab1", [
            _gpu("lab1", 0, 60 + wave, 71.2), _gpu("lab1", 1, 55 + wave, 70.9),
            _gpu("lab1", 2, 30, 40.0, pids=(31337,)), _gpu("lab1", 3, 0, 0.5),
        ], NOW - 1)  # fmt: skip
        record_gpus(store.conn, "lab2", [
            _gpu("lab2", 0, 90 - wave, 62.0), _gpu("lab2", 1, 0, 0.4),
            _gpu("lab2", 2, 0, 0.4), _gpu("lab2", 3, 0, 0.4),
        ], NOW - 1)  # fmt: skip
    store.close()
    return app


async def open_gpus(pilot: Pilot[None]) -> GpuView:
    await settled(pilot.app)
    await pilot.press("u")
    view = pilot.app.screen
    assert isinstance(view, GpuView)
    while not view.loaded:
        await pilot.pause()
    await table_laid_out(pilot, view.query_one(DataTable))
    return view


def column(view: GpuView, index: int) -> list[str]:
    table = view.query_one(DataTable)
    return [str(table.get_row_at(row)[index]) for row in range(table.row_count)]


async def test_every_gpu_with_its_run_and_enter_opens_it(tmp_path: Path) -> None:
    app = with_two_hosts(tmp_path)
    log = MessageLog()
    async with app.run_test(size=(160, 48), message_hook=log.hook) as pilot:
        view = await open_gpus(pilot)
        assert column(view, 0) == ["lab1"] * 4 + ["lab2"] * 4 + ["pod"] * 2
        assert column(view, 2) == [
            "h5-5b5b5b", "h5-5b5b5b", "other process (pid 31337)", "free",
            "h2-2c2c2c", "free", "free", "free", "h3-3e3e3e", "h3-3e3e3e",
        ]  # fmt: skip
        assert column(view, 3)[8:] == ["█████████░  88%", "█░░░░░░░░░  12%"]
        assert column(view, 8)[8] == "the run's own (not placed)"
        assert column(view, 4)[8] == "███████░░░  71% used" and column(view, 5)[8] == "61°C"
        title = str(view.query_one("#gpus-title").render())
        assert "3 hosts · 10 GPUs: 5 with a cockpit run, 1 with another process, 4 free" in title
        await pilot.press("down", "down", "down", "enter")  # GPU 3 of lab1: free
        assert isinstance(app.screen, GpuView)
        await pilot.press("down", "enter")  # lab2's GPU 0: its run opens in the main panes
        main = app.screen
        assert isinstance(main, MainScreen)
        await log.until(lambda: main.shown is not None and main.shown.id == "h2-2c2c2c")


def clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t))


def test_the_lines() -> None:
    hosts = [GpuHost("a", NOW - 1, None), GpuHost("b", NOW - 1, "b: connection refused"),
             GpuHost("cpu", NOW - 1, None)]  # fmt: skip
    runs = [replace(record("h1-aaaaaa", "H1", "running", NOW), host="cpu")]
    lines = gpu_lines(hosts, [_gpu("a", 0, 50, 40)], runs, {"cpu": 2}, NOW)
    assert [(line.host, line.gpu, line.name or line.run) for line in lines] == [
        ("a", "GPU 0", "H100 80GB HBM3"),
        ("b", "", f"cannot be asked: b: connection refused (as of {clock(NOW - 1)})"),
        ("cpu", "", "no GPU: 1 of 2 slots taken (h1-aaaaaa)"),
    ]  # fmt: skip
    assert lines[0].util == "█████░░░░░  50%" and lines[0].memory.endswith(" 40.0/80 GB")
    assert sparkline([0, 50, 100]) == "▁▅█"


def test_the_store_keeps_a_short_history_per_gpu(tmp_path: Path) -> None:
    store = Store(ProjectPaths(tmp_path).db)
    for util in range(70):
        record_gpus(store.conn, "a", [_gpu("a", 0, util, 1)], NOW)
    hosts, gpus = read_gpus(store.conn)
    assert hosts == [GpuHost("a", NOW, None)]
    assert gpus[0].history == tuple(float(v) for v in range(10, 70))  # the last 60


def test_snapshot_two_hosts_of_four_gpus(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app = with_two_hosts(tmp_path)

    async def run_before(pilot: Pilot[None]) -> None:
        await open_gpus(pilot)

    assert snap_compare(app, terminal_size=(160, 48), run_before=run_before)
