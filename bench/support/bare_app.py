"""The baseline app for the start-up and idle benchmarks: a bare Textual app with the widgets
cockpit's watch screen is made of, widget for widget (59 of them: `python
bench/support/bare_app.py --count` prints the number), built from Textual's stock widgets with
no cockpit code and no app CSS: a status line; the plan list (an error line over an option
list); the run header, tabs, a status line, a filter input and three logs in a content switcher;
four metric rows (label, sparkline, numbers); the cost box (four lines and a progress bar); and a
footer with the watch screen's eight keys. A 1 Hz timer updates the status line, like cockpit's
clock. Usage: bare_app.py [--exit-after-paint | --count]

Until 2026-11-22 this app had about half of those widgets (one sparkline per metric, one cost
line, two footer keys); `bench/README.md` shows both baselines measured in the same run.
"""

from __future__ import annotations

import sys
import time

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import (
    ContentSwitcher,
    Footer,
    Input,
    Log,
    OptionList,
    ProgressBar,
    Sparkline,
    Static,
    Tab,
    Tabs,
)

KEYS = [
    ("1", "train"),
    ("2", "onstart"),
    ("3", "gpu"),
    ("f", "follow"),
    ("slash", "filter"),
    ("j", "jump"),
    ("question_mark", "help"),
]


class BareApp(App[None]):
    BINDINGS = [
        *(Binding(key, f"noop('{name}')", name) for key, name in KEYS),
        Binding("q", "quit", "quit"),
    ]

    def compose(self) -> ComposeResult:
        yield Static("bare · READ-ONLY · watch", id="status")
        with Horizontal():
            with Vertical(), Vertical():
                yield Static("")
                yield OptionList(*(f"H{i}: a hypothesis" for i in range(1, 10)))
            with Vertical():
                yield Static("run h1-000000 running")
                with Vertical():
                    yield Tabs(Tab("train"), Tab("onstart"), Tab("gpu"))
                    yield Static("train: 0 lines · following")
                    yield Input(placeholder="filter")
                    with ContentSwitcher(initial="train"):
                        for name in ("train", "onstart", "gpu"):
                            yield Log(id=name, max_lines=5000)
        with Horizontal():
            with Vertical():
                for name in ("loss", "val", "GPU %", "VRAM %"):
                    with Horizontal():
                        yield Static(name)
                        yield Sparkline([1.0, 2.0, 3.0])
                        yield Static("no samples yet")
            with Vertical():
                yield Static("$0.00 / h")
                yield Static("so far $0.000")
                yield ProgressBar(total=100)
                yield Static("plan $0.000")
                yield Static("")
        yield Footer()

    def on_mount(self) -> None:
        self.set_interval(1.0, self.tick)
        if "--exit-after-paint" in sys.argv:
            self.call_after_refresh(self.exit)

    def action_noop(self, name: str) -> None:
        """A key that does nothing (one action per key, as the footer shows each alone)."""

    def tick(self) -> None:
        self.query_one("#status", Static).update(
            f"bare · READ-ONLY · watch · {time.monotonic():.0f}"
        )


if __name__ == "__main__":
    if "--count" in sys.argv:

        async def count() -> None:
            app = BareApp()
            async with app.run_test(size=(160, 48)) as pilot:
                await pilot.pause()
                print(len(list(app.screen.walk_children())))

        import asyncio

        asyncio.run(count())
    else:
        BareApp().run()
