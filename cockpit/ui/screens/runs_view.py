"""The runs view (`a` on the main screen): every run of the project, newest first, k9s-style.

Sort by any column (keys 1–9, again to reverse), filter (`/`: text, `state:failed`,
`plan:lr`…), mark runs (space) and compare them (`c`), Enter opens one in the main panes —
old attempts and stopped runs included. The store is read in a thread, every two seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from cockpit.core.paths import ProjectPaths
from cockpit.core.records import RunRecord
from cockpit.ui.runs_table import COLUMNS, RunRow, cells, matches, primary_key, sort_key
from widgets.text_update import set_text

REFRESH_S = 2.0


Stamp = tuple[int, int]
"""(the runs' latest change number, the newest metric block): what changed since a read."""


def read_rows(
    paths: ProjectPaths, val_key: str | None, seen: Stamp | None = None
) -> tuple[Stamp | None, list[RunRow] | None]:
    """Every run with its primary metric (in a thread: SQLite never on the event loop), or
    None for the rows when nothing was committed since the read stamped `seen` (the view
    looks every two seconds: a thousand runs are not read again for nothing)."""
    from cockpit.store.reader import StoreReader
    from cockpit.store.sqlite_file import StoreError

    try:
        reader = StoreReader(paths.db, read_only=True)
    except StoreError:
        return None, []
    try:
        stamp = (reader.runs_version(), reader.metrics.version())
        if stamp == seen:
            return stamp, None
        rows = []
        for run in reader.runs():
            key = primary_key(reader.metrics.keys(run.id), val_key)
            stats = reader.metrics.stats(run.id, key) if key else None
            rows.append(RunRow(run, (key, stats[0]) if key and stats else None))
        return stamp, rows
    finally:
        reader.close()


class RunsView(Screen[RunRecord | None]):
    DEFAULT_CSS = """
    RunsView > #runs-title { height: 1; padding: 0 1; background: $panel; color: $text; }
    RunsView > #runs-filter { display: none; height: 3; }
    RunsView > DataTable { height: 1fr; }
    """
    BINDINGS = [
        Binding(
            "escape", "back", "back", tooltip="Back to the main screen (clears a filter first)"
        ),
        Binding("enter", "open", "open", tooltip="Show the run in the main panes"),
        Binding("space", "mark", "mark", tooltip="Mark the run for comparison"),
        Binding("c", "compare", "compare", tooltip="Chart a metric of the marked runs"),
        Binding("slash", "filter", "filter", tooltip="Filter: text, state:…, plan:…, backend:…"),
        *(
            Binding(str(n + 1), f"sort({n})", f"sort {name}", show=False)
            for n, name in enumerate(COLUMNS)
        ),
    ]

    def __init__(
        self,
        paths: ProjectPaths,
        val_key: str | None,
        compare: Callable[[list[RunRecord]], object],
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.paths = paths
        self.val_key = val_key
        self.compare = compare
        """Opens the compare view for the marked runs (the app knows how)."""
        self.clock = clock
        self.rows: list[RunRow] = []
        """Every run read, newest first."""
        self.marked: list[str] = []
        self.sort_column = "started"
        self.descending = True
        self.query_text = ""
        self.loaded = False
        self._headers: tuple[str, ...] = ()
        self._stamp: Stamp | None = None

    def compose(self) -> ComposeResult:
        yield Static("runs", id="runs-title")
        yield Input(
            placeholder="filter: text, state:failed, plan:lr, backend:pod", id="runs-filter"
        )
        table: DataTable[str] = DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield table
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        self.load()
        self.set_interval(REFRESH_S, self.load, name="runs-refresh")
        table.focus()

    def load(self) -> None:
        paths, val_key, seen = self.paths, self.val_key, self._stamp

        def read() -> None:
            stamp, rows = read_rows(paths, val_key, seen)
            if rows is not None:
                self.app.call_from_thread(self.show_rows, rows, stamp)

        self.run_worker(read, thread=True, group="runs-read", exclusive=True, exit_on_error=False)

    def show_rows(self, rows: list[RunRow], stamp: Stamp | None = None) -> None:
        self.rows, self._stamp = rows, stamp
        self.loaded = True
        self._fill()

    @property
    def shown(self) -> list[RunRow]:
        """The rows the table shows: filtered, sorted."""
        rows = [row for row in self.rows if matches(row, self.query_text)]
        return sorted(rows, key=sort_key(self.sort_column, self.clock()), reverse=self.descending)

    def _columns(self) -> tuple[list[int], str | None]:
        """The columns worth their width: no plan column in a one-plan project; one metric
        shared by every run is named in the heading instead of in each cell."""
        keep = list(range(len(COLUMNS)))
        if len({row.run.plan for row in self.rows}) <= 1:
            keep.remove(COLUMNS.index("plan"))
        keys = {row.metric[0] for row in self.rows if row.metric}
        return keep, (keys.pop() if len(keys) == 1 else None)

    def _fill(self) -> None:
        table = self.query_one(DataTable)
        keep = self._cursor_id()
        now = self.clock()
        shown = self.shown
        columns, metric = self._columns()
        headers = tuple(
            f"{i + 1} {metric if COLUMNS[i] == 'metric' and metric else COLUMNS[i]}"
            for i in columns
        )
        if headers != self._headers:
            self._headers = headers
            table.clear(columns=True)
            for i, header in zip(columns, headers, strict=True):
                table.add_column(header, key=COLUMNS[i])
        table.clear()
        for row in shown:
            values = list(cells(row, now))
            if row.run.id in self.marked:
                values[0] = f"● {values[0]}"
            if metric and row.metric:
                values[-1] = f"{row.metric[1]:.4g}"
            table.add_row(*(values[i] for i in columns), key=row.run.id)
        ids = [row.run.id for row in shown]
        if keep in ids:
            table.move_cursor(row=ids.index(keep), animate=False)
        arrow = "↓" if self.descending else "↑"
        parts = [f"{len(shown)} of {len(self.rows)} runs", f"by {self.sort_column} {arrow} (1–9)"]
        if self.query_text:
            parts.append(f"filter: {self.query_text}")
        if self.marked:
            parts.append(f"{len(self.marked)} marked (c compares)")
        parts.append("⏎ opens")
        set_text(self.query_one("#runs-title", Static), "  ·  ".join(parts))

    def _cursor_id(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return str(key.value) if key.value is not None else None

    def _run(self, run_id: str | None) -> RunRecord | None:
        return next((row.run for row in self.rows if row.run.id == run_id), None)

    # ---- actions ----------------------------------------------------------------------------

    def action_sort(self, column: int) -> None:
        name = COLUMNS[column]
        if name == self.sort_column:
            self.descending = not self.descending
        else:
            self.sort_column, self.descending = name, name in ("started", "time", "cost")
        self._fill()

    @on(DataTable.HeaderSelected)
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        self.action_sort(COLUMNS.index(str(event.column_key.value)))

    def action_mark(self) -> None:
        run_id = self._cursor_id()
        if run_id is None:
            return
        if run_id in self.marked:
            self.marked.remove(run_id)
        else:
            self.marked.append(run_id)
        self._fill()

    def action_compare(self) -> None:
        runs = [run for run in map(self._run, self.marked) if run is not None]
        if not runs:
            run = self._run(self._cursor_id())
            runs = [run] if run is not None else []
        if not runs:
            self.notify("mark runs with space, then c compares them", severity="warning")
            return
        self.compare(runs)

    def action_open(self) -> None:
        run = self._run(self._cursor_id())
        if run is not None:
            self.dismiss(run)

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_filter(self) -> None:
        box = self.query_one("#runs-filter", Input)
        box.display = True  # inline: shown (and focusable) at once
        box.value = self.query_text
        self.screen.set_focus(box)  # at once: keys typed right after the key go to it

    @on(Input.Submitted, "#runs-filter")
    def _filtered(self, event: Input.Submitted) -> None:
        event.input.display = False
        self.query_text = event.value.strip()
        self.query_one(DataTable).focus()
        self._fill()

    def action_back(self) -> None:
        box = self.query_one("#runs-filter", Input)
        if box.display or self.query_text:
            box.display = False
            self.query_text = ""
            self.query_one(DataTable).focus()
            self._fill()
            return
        self.dismiss(None)
