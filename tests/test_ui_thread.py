"""The UI's event loop never waits on SQLite in steady state: the store is read by the feed's
thread (`cockpit.ui.store_feed`). Every connection is made to complain when it is queried from
the loop's thread while the screen runs, and the supervisor's side changes everything the
screens show — runs, metrics, cost, alerts — while the cursor moves."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import traceback
from pathlib import Path
from typing import Any

import pytest

from cockpit.core.protocol import RunWarning
from cockpit.store.reader import StoreReader
from cockpit.store.writer import Store
from cockpit.ui.screens.main import MainScreen
from cockpit.ui.screens.status_line import SupervisionChecked
from tests.test_snapshots import make_app
from tests.uihelp import MessageLog
from tools.showcase import NOW, record, settled


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
def guard(monkeypatch: pytest.MonkeyPatch) -> LoopGuard:
    guard = LoopGuard()
    connect = sqlite3.connect

    def guarded(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        return connect(*args, factory=guard.factory, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", guarded)
    return guard


def supervisor_writes(db: Path) -> None:
    """What a supervisor's polls do to the store (run from another thread)."""
    store = Store(db)
    store.add_metrics("h5-5b5b5b", [(NOW, 500.0, "loss", 0.123), (NOW, 500.0, "step", 500.0)])
    store.update_run("h5-5b5b5b", cost_so_far=0.42, warnings=(RunWarning.STALLED,))
    store.create_run(record("h3-3c3c3c", "H3", "running", NOW - 5))
    store.set_alert("config", "cockpit.toml: key 'cost.run_cap': not a number")
    store.beat(NOW - 600)
    store.close()


async def test_no_store_query_on_the_event_loop_in_steady_state(
    tmp_path: Path, guard: LoopGuard
) -> None:
    app = make_app(tmp_path, read_only=False)
    log = MessageLog()
    async with app.run_test(size=(160, 48), message_hook=log.hook) as pilot:
        screen = app.screen
        assert isinstance(screen, MainScreen)
        await settled(app)
        guard.on = True
        await asyncio.to_thread(supervisor_writes, screen.paths.db)
        await log.until(lambda: any(run.id == "h3-3c3c3c" for run in screen.runs))
        await log.until(lambda: "cost.run_cap" in str(screen.query_one("#status-line").render()))
        await pilot.press("down", "down", "up")  # other runs shown: their series are read
        ticks = len(log.of(SupervisionChecked))
        await log.wait(SupervisionChecked, lambda _: len(log.of(SupervisionChecked)) > ticks + 1)
        assert screen.shown is not None
        await log.until(lambda: screen.snapshot.shown == screen.shown.id)  # type: ignore[union-attr]
        assert guard.offenders == [], guard.offenders[0]
        # The guard does catch a query made on the loop:
        StoreReader(screen.paths.db, read_only=True).run("h5-5b5b5b")
        assert guard.offenders
        guard.on = False
