"""The baseline app for the start-up and idle benchmarks: a bare Textual app with the widgets
cockpit's main screen is made of (a list, a header line, tabs, three logs, sparklines, a cost
box, a footer) and no cockpit code. Usage: bare_app.py [--exit-after-paint]"""

from __future__ import annotations

import sys
import time

from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import ContentSwitcher, Footer, Log, OptionList, Sparkline, Static, Tab, Tabs


class BareApp(App[None]):
    BINDINGS = [("q", "quit", "quit")]

    def compose(self) -> ComposeResult:
        yield Static("bare · READ-ONLY · watch")
        with Horizontal():
            yield OptionList(*(f"H{i}: a hypothesis" for i in range(1, 10)))
            with Vertical():
                yield Static("run h1-000000 running")
                yield Tabs(Tab("train"), Tab("onstart"), Tab("gpu"))
                with ContentSwitcher(initial="train"):
                    for name in ("train", "onstart", "gpu"):
                        yield Log(id=name, max_lines=5000)
        with Horizontal(id="bottom"):
            with Vertical():
                for _ in range(4):
                    yield Sparkline([1.0, 2.0, 3.0])
            yield Static("$0.00 / h")
        yield Footer()

    def on_mount(self) -> None:
        self.set_interval(1.0, self.tick)
        if "--exit-after-paint" in sys.argv:
            self.call_after_refresh(self.exit)

    def tick(self) -> None:
        self.query_one(Static).update(f"bare · READ-ONLY · watch · {time.monotonic():.0f}")


if __name__ == "__main__":
    BareApp().run()
