"""One supervisor, many clients: a second interactive cockpit in a real terminal beside a
Pilot-driven one, and the CLI stopping a run while a UI is open."""

from __future__ import annotations

import asyncio
import shlex
import sys
from pathlib import Path

from cockpit.core.config import load_config
from cockpit.store.reader import StoreReader
from cockpit.ui.app import CockpitApp
from cockpit.ui.screens.control import RequestFinished
from cockpit.ui.screens.main import MainScreen
from tests.test_e2e_tmux import Tmux, tmux  # noqa: F401 - the fixture
from tests.uihelp import MessageLog


async def test_two_interactive_cockpits_see_each_other_and_each_others_launches(
    project: Path,
    tmux: Tmux,  # noqa: F811
) -> None:
    cockpit = f"{shlex.quote(sys.executable)} -m cockpit --project {shlex.quote(str(project))}"
    tmux("new-session", "-d", "-s", "cockpit", "-x", "160", "-y", "48", cockpit)
    tmux("resize-window", "-t", "cockpit", "-x", "160", "-y", "48")
    messages = MessageLog()
    app = CockpitApp(project, load_config(project))
    async with app.run_test(size=(160, 48), message_hook=messages.hook) as pilot:
        screen = app.screen
        assert isinstance(screen, MainScreen)
        await messages.until(
            lambda: "also open: 1 interactive" in str(screen.query_one("#status-line").render()),
            timeout=30,
        )
        await asyncio.to_thread(
            tmux.wait_screen, lambda s: "also open: 1 interactive" in s, "the other to see us"
        )
        tmux("send-keys", "-t", "cockpit", "Down", "Down", "Down", "Down", "l")  # H5 there
        await messages.until(
            lambda: any(r.hypothesis == "H5" and r.active for r in screen.runs), timeout=30
        )
        run = next(r for r in screen.runs if r.hypothesis == "H5")
        # Stopping it here is seen there.
        screen.query_one("#plan-list").select_key("hypotheses.md:H5")  # type: ignore[attr-defined]
        await pilot.press("s", "y")
        await messages.wait(RequestFinished, lambda m: m.request.kind == "stop")
        await asyncio.to_thread(tmux.wait_screen, lambda s: "STOPPED" in s, "the other to see it")
        assert StoreReader(project / ".cockpit" / "state.db").run(run.id).state == "stopped"  # type: ignore[union-attr]


async def test_cli_stop_while_a_ui_is_open(project: Path) -> None:
    messages = MessageLog()
    app = CockpitApp(project, load_config(project))
    async with app.run_test(size=(160, 48), message_hook=messages.hook) as pilot:
        screen = app.screen
        assert isinstance(screen, MainScreen)
        screen.query_one("#plan-list").select_key("hypotheses.md:H5")  # type: ignore[attr-defined]
        await pilot.press("l")
        await messages.until(lambda: screen.shown is not None and screen.shown.state == "running")
        assert screen.shown is not None
        run_id = screen.shown.id
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cockpit", "stop", run_id, "--yes", "--project", str(project),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await process.communicate()
        assert process.returncode == 0, err
        assert out.decode().startswith(f"{run_id}: stopped (cost $")
        await messages.until(lambda: screen.shown is not None and screen.shown.state == "stopped")
        header = str(screen.query_one("#run-header").render())
        assert "STOPPED" in header
