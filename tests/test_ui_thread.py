"""The UI's event loop never waits on SQLite or a mirror file in steady state: the store is
read by the store feed's thread (`cockpit.ui.store_feed`), the logs by the log feed's
(`cockpit.ui.log_feed`). Every connection, and every open of a file under `.cockpit/`, is made
to complain when it happens on the loop's thread while the screen runs; meanwhile the
supervisor's side changes everything the screens show — runs, metrics, cost, alerts, log
lines — the cursor moves and the pane jumps to a failure line."""

from __future__ import annotations

import asyncio
import builtins
import io
import sqlite3
import threading
import traceback
from pathlib import Path
from typing import Any

import pytest

from cockpit.core.paths import ProjectPaths
from cockpit.core.protocol import RunWarning
from cockpit.store.reader import StoreReader
from cockpit.store.writer import Store
from cockpit.ui.browse_feed import BrowseRows
from cockpit.ui.screens.main import MainScreen
from cockpit.ui.screens.status_line import SupervisionChecked
from tests.test_snapshots import make_app
from tests.uihelp import MessageLog
from tools.showcase import NOW, record, settled
from widgets.hypothesis_list import HypothesisList
from widgets.log_pane import LogPane


class LoopGuard:
    """Connections whose queries from the loop's thread are recorded while `on`."""

    def __init__(self) -> None:
        self.loop_thread = threading.get_ident()
        self.on = False
        self.offenders: list[str] = []
        guard = self

        class Guarded(sqlite3.Connection):
            def execute(self, *args: Any, **kwargs: Any) -> sqlite3.Cursor:
                if guard.on and threading.get_ident() == guard.loop_thread:
                    guard.offenders.append("".join(traceback.format_stack(limit=10)))
                return super().execute(*args, **kwargs)

        self.factory = Guarded


@pytest.fixture
def guard(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> LoopGuard:
    guard = LoopGuard()
    connect = sqlite3.connect
    real_open = builtins.open

    def guarded(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        return connect(*args, factory=guard.factory, **kwargs)

    def opening(file: Any, *args: Any, **kwargs: Any) -> Any:
        if (
            guard.on
            and threading.get_ident() == guard.loop_thread
            and ".cockpit" in Path(str(file)).parts
        ):
            guard.offenders.append(f"open({file})\n" + "".join(traceback.format_stack(limit=10)))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", guarded)
    monkeypatch.setattr(builtins, "open", opening)
    monkeypatch.setattr(io, "open", opening)
    return guard


def supervisor_writes(db: Path, shown: str) -> None:
    """What a supervisor's polls do to the store (run from another thread)."""
    store = Store(db)
    store.add_metrics("h5-5b5b5b", [(NOW, 500.0, "loss", 0.123), (NOW, 500.0, "step", 500.0)])
    store.update_run("h5-5b5b5b", cost_so_far=0.42, warnings=(RunWarning.STALLED,))
    store.create_run(record("h3-3c3c3c", "H3", "running", NOW - 5))
    failed = record("h4-4f4f4f", "H4", "failed", NOW - 50, ended_at=NOW - 20, exit_code=1)
    store.create_run(failed)
    store.update_run(
        failed.id, failure_class="crash", failure_source="train", failure_line_no=3,
        failure_line="RuntimeError: boom",
    )  # fmt: skip
    crashed = ProjectPaths(db.parents[1]).mirror_log(failed.id, "train")
    crashed.parent.mkdir(parents=True, exist_ok=True)
    crashed.write_text("step 1\nTraceback (most recent call last):\nRuntimeError: boom\n")
    store.add_anomaly(failed.id, "train", 3, "crash", "RuntimeError: boom", 42)
    store.set_alert("config", "cockpit.toml: key 'cost.run_cap': not a number")
    store.beat(NOW - 600)
    store.close()
    mirror = ProjectPaths(db.parents[1]).mirror_log(shown, "train")
    with open(mirror, "a") as handle:
        handle.writelines(f'{{"step": {500 + i}, "loss": 0.1}}\n' for i in range(2000))
        handle.write("a new line from the supervisor\n")


async def test_no_store_query_or_mirror_read_on_the_event_loop_in_steady_state(
    tmp_path: Path, guard: LoopGuard
) -> None:
    app = make_app(tmp_path, read_only=False)
    messages = MessageLog()
    async with app.run_test(size=(160, 48), message_hook=messages.hook) as pilot:
        screen = app.screen
        assert isinstance(screen, MainScreen)
        await settled(app)
        guard.on = True
        assert screen.shown is not None
        await asyncio.to_thread(supervisor_writes, screen.paths.db, screen.shown.id)
        await messages.until(lambda: any(run.id == "h4-4f4f4f" for run in screen.runs))
        status = screen.query_one("#status-line")
        await messages.until(lambda: "cost.run_cap" in str(status.render()))
        log = screen.query_one(LogPane).log_for("train")
        await messages.until(
            lambda: log.line_count > 0 and str(log.lines[-1]) == "a new line from the supervisor"
        )
        await pilot.press("down", "down", "up")  # other runs shown: their series are read
        screen.query_one(HypothesisList).select_key("hypotheses.md:H4")
        await messages.until(lambda: screen.snapshot.shown == "h4-4f4f4f")
        await pilot.press("j")
        rows = await messages.wait(BrowseRows, lambda m: "RuntimeError: boom" in m.lines)
        assert rows.source == "train"
        ticks = len(messages.of(SupervisionChecked))
        await messages.wait(
            SupervisionChecked, lambda _: len(messages.of(SupervisionChecked)) > ticks + 1
        )
        assert guard.offenders == [], guard.offenders[0]
        # The guard does catch a query or a mirror read made on the loop:
        StoreReader(screen.paths.db, read_only=True).run("h5-5b5b5b")
        queries = len(guard.offenders)
        assert queries > 0
        with open(screen.paths.mirror_log("h5-5b5b5b", "train"), "rb"):
            pass
        assert len(guard.offenders) == queries + 1
        guard.on = False
