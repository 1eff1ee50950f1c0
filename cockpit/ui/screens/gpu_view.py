"""The GPU view (`u` on the main screen), nvitop-like: every GPU of every host cockpit places
runs on — utilisation and memory bars, temperature, power, the cockpit run on it (or "other
process"), a sparkline of its utilisation — as the supervisor last asked the hosts (every few
seconds while runs are placed there). Enter on a GPU opens its run in the main panes. The
store is read in a thread every two seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from cockpit.core.config import CockpitConfig
from cockpit.core.paths import ProjectPaths
from cockpit.core.records import RunRecord
from cockpit.ui.gpu_lines import GpuLine, Reading, gpu_lines, own_gpu_lines, summary
from widgets.text_update import set_text

REFRESH_S = 2.0
COLUMNS = ("host", "gpu", "run", "util", "memory", "temp", "power", "util history", "name")
"""Which run first: on a narrow terminal the columns past the edge are the least needed."""


if TYPE_CHECKING:
    from cockpit.store.reader import StoreReader


def read_lines(paths: ProjectPaths, slots: dict[str, int], now: float) -> tuple[
    list[GpuLine], dict[str, RunRecord]
]:  # fmt: skip
    """The view's lines and the runs on them (in a thread: SQLite never on the event loop)."""
    from cockpit.store.gpu_table import read_gpus
    from cockpit.store.reader import StoreReader
    from cockpit.store.sqlite_file import StoreError

    try:
        reader = StoreReader(paths.db, read_only=True)
    except StoreError:
        return [], {}
    try:
        hosts, gpus = read_gpus(reader.conn)
        active = reader.active_runs()
        placed = [run for run in active if run.host is not None]
        lines = gpu_lines(hosts, gpus, placed, slots, now)
        own = [r for r in active if r.host is None and r.want_gpus is None and r.state == "running"]
        for run in own:  # pods and Slurm jobs bring their own GPUs: their samples say
            lines += own_gpu_lines(run, readings(reader, run.id))
        return lines, {run.id: run for run in [*placed, *own]}
    finally:
        reader.close()


def readings(reader: StoreReader, run_id: str) -> list[Reading]:
    """The last sample of each GPU a run's gpu source reported (`gpu_util`, `gpu_util1`...)."""
    keys = set(reader.metrics.keys(run_id))
    found = []
    for key in sorted(keys):
        if not key.startswith("gpu_util"):
            continue
        suffix = key.removeprefix("gpu_util")
        if suffix and not suffix.isdigit():
            continue

        def last(name: str, suffix: str = suffix) -> float | None:
            stats = reader.metrics.stats(run_id, name + suffix) if name + suffix in keys else None
            return stats[0] if stats else None

        found.append(Reading(int(suffix or 0), last("gpu_util"), last("gpu_mem"),
                             last("gpu_temp"), last("gpu_power")))  # fmt: skip
    return sorted(found, key=lambda reading: reading.index)


class GpuView(Screen[RunRecord | None]):
    DEFAULT_CSS = """
    GpuView > #gpus-title { height: 1; padding: 0 1; background: $panel; color: $text; }
    GpuView > DataTable { height: 1fr; }
    """
    BINDINGS = [
        Binding("escape", "back", "back", tooltip="Back to the main screen"),
        Binding("enter", "open", "open run", tooltip="Show the run on this GPU in the main panes"),
    ]

    def __init__(
        self, paths: ProjectPaths, config: CockpitConfig, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__()
        self.paths = paths
        self.slots = {
            name: int(getattr(settings, "slots", 1)) for name, settings in config.backends.items()
        }
        self.clock = clock
        self.lines: list[GpuLine] = []
        self.runs: dict[str, RunRecord] = {}
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield Static("GPUs", id="gpus-title")
        table: DataTable[str] = DataTable(id="gpus-table", cursor_type="row", zebra_stripes=True)
        yield table
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for name in COLUMNS:
            table.add_column(name, key=name)
        self.load()
        self.set_interval(REFRESH_S, self.load, name="gpus-refresh")
        table.focus()

    def load(self) -> None:
        paths, slots, now = self.paths, self.slots, self.clock()

        def read() -> None:
            lines, runs = read_lines(paths, slots, now)
            self.app.call_from_thread(self.show_lines, lines, runs)

        self.run_worker(read, thread=True, group="gpus-read", exclusive=True, exit_on_error=False)

    def show_lines(self, lines: list[GpuLine], runs: dict[str, RunRecord]) -> None:
        self.lines, self.runs, self.loaded = lines, runs, True
        table = self.query_one(DataTable)
        keep = self._cursor_key()
        table.clear()
        for line in lines:
            table.add_row(
                line.host, line.gpu, line.run, line.util, line.memory, line.temp, line.power,
                line.history, line.name, key=line.key,
            )  # fmt: skip
        keys = [line.key for line in lines]
        if keep in keys:
            table.move_cursor(row=keys.index(keep), animate=False)
        text = summary(lines) if lines else "no host has been asked for its GPUs yet"
        set_text(self.query_one("#gpus-title", Static), f"GPUs · {text} · ⏎ opens its run")

    def _cursor_key(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return str(key.value) if key.value is not None else None

    def action_open(self) -> None:
        line = next((line for line in self.lines if line.key == self._cursor_key()), None)
        if line is None:
            return
        run = self.runs.get(line.run_id or "")
        if run is None:
            self.notify(f"no cockpit run on {line.host} {line.gpu}: {line.run or line.name}")
            return
        self.dismiss(run)

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_back(self) -> None:
        self.dismiss(None)
