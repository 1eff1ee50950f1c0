"""Every key is findable at every terminal size: the money keys, quit and help in the footer,
the rest in a help screen that scrolls; and the palette holds every key's action."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.command import CommandList, CommandPalette
from textual.containers import VerticalScroll
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

from cockpit.core.binding_ids import BINDING_IDS
from cockpit.ui.app import CockpitApp
from cockpit.ui.screens.help import HelpScreen
from cockpit.ui.screens.main import MainScreen
from tests.test_snapshots import make_app
from tests.uihelp import MessageLog
from tools.showcase import settled

SIZES = [(80, 24), (100, 30), (160, 48), (220, 60)]
ACTIONS = ("launch", "stop", "relaunch", "loop", "mark")
ALWAYS_IN_FOOTER = {"l", "s", "r", "q", "question_mark"}
"""What even an 80-column footer shows: the keys that spend or save money, quit and help."""


def expected_ids(read_only: bool) -> set[str]:
    return {i for i in BINDING_IDS if not (read_only and i in ACTIONS)}


def footer_keys(app: CockpitApp) -> set[str]:
    """The keys the footer shows whole (not scrolled off, not under the palette's key)."""
    footer = app.screen.query_one(Footer)
    keys = list(footer.query(FooterKey))
    palette = [key for key in keys if key.has_class("-command-palette")]
    right = palette[0].region.x if palette else footer.region.right
    return {
        key.key
        for key in keys
        if not key.has_class("-command-palette") and key.region.width and key.region.right <= right
    }


@pytest.mark.parametrize("read_only", [False, True], ids=["interactive", "watch"])
@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
async def test_every_key_is_in_the_footer_or_the_help(
    tmp_path: Path, size: tuple[int, int], read_only: bool
) -> None:
    app = make_app(tmp_path, read_only=read_only)
    async with app.run_test(size=size) as pilot:
        await settled(app)
        await pilot.pause()
        main = app.screen
        assert isinstance(main, MainScreen)
        ids = {a.binding.id: a.binding.key for a in main.active_bindings.values()}
        assert expected_ids(read_only) <= set(ids)
        shown = footer_keys(app)
        assert ALWAYS_IN_FOOTER - ({"l", "s", "r"} if read_only else set()) <= shown
        await pilot.press("question_mark")
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        listed = [row[1] for row in help_screen._rows]
        # cockpit's keys come first, each once, and every one the footer does not show is here
        assert listed == [
            b.description
            for b in (a.binding for a in main.active_bindings.values())
            if b.id in BINDING_IDS
        ]
        for binding_id in expected_ids(read_only):
            assert ids[binding_id] in shown or any(
                b.id == binding_id and b.description in listed
                for b in (a.binding for a in main.active_bindings.values())
            ), binding_id
        # It scrolls to its last line, whatever the height.
        body = help_screen.query_one(VerticalScroll)
        await pilot.press("end")
        await pilot.pause()
        assert body.scroll_y == body.max_scroll_y
        assert body.virtual_size.height <= body.scroll_y + body.scrollable_content_region.height


async def test_the_help_lists_the_rules_in_force(tmp_path: Path) -> None:
    app = make_app(tmp_path, read_only=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await settled(app)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert app.screen._rules is not None
        heading, lines = app.screen._rules
        assert heading.startswith("rules in force")
        assert [line.split(":")[0] for line in lines] == [
            "cost", "stall", "NaN", "time", "relaunch", "parallel",
        ]  # fmt: skip
        assert "never relaunched" in lines[0] or lines[0].startswith("cost: no cap")


@pytest.mark.parametrize("read_only", [False, True], ids=["interactive", "watch"])
async def test_the_palette_holds_every_key_action_and_one_quit(
    tmp_path: Path, read_only: bool
) -> None:
    app = make_app(tmp_path, read_only=read_only)
    log = MessageLog()
    async with app.run_test(size=(160, 48), message_hook=log.hook) as pilot:
        await settled(app)
        main = app.screen
        assert isinstance(main, MainScreen)
        commands = list(app.get_system_commands(main))
        titles = [command.title for command in commands]
        assert sum("quit" in title.lower() for title in titles) == 1
        keyed = [c.help for c in commands if "(key: " in c.help]
        for binding in (a.binding for a in main.active_bindings.values()):
            if binding.id in expected_ids(read_only):
                key = app.get_key_display(binding)
                assert any(h.endswith(f"(key: {key})") for h in keyed), binding.id
        assert not any(title == "Launch" for title in titles) or not read_only
        # A command from the palette does what its key does: "Show the gpu samples".
        await pilot.press("ctrl+p")
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"gpu samples")
        palette = app.screen
        await log.until(lambda: palette.query_one(CommandList).option_count > 0)
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is main
        from widgets.log_pane import LogPane

        assert main.query_one(LogPane).source == "gpu"


async def test_toasts_stack_a_few_at_the_top_and_all_stay_in_the_history(
    tmp_path: Path,
) -> None:
    from textual.widgets._toast import Toast

    from cockpit.ui.notices import MAX_TOASTS
    from cockpit.ui.screens.history import HistoryScreen
    from widgets.cost_meter import CostMeter

    app = make_app(tmp_path, read_only=True)
    log = MessageLog()
    async with app.run_test(size=(80, 24), message_hook=log.hook, notifications=True) as pilot:
        await settled(app)
        for i in range(6):
            app.notify(f"event {i}")
        app.notify("event 5")  # the same message again while it shows: not a second toast
        await log.until(lambda: len(app.notices.history) >= 7)
        await pilot.pause()
        shown = [n.message for n in app._notifications]
        assert shown == [f"event {i}" for i in range(6 - MAX_TOASTS, 6)]
        await log.until(lambda: len(app.screen.query(Toast)) == MAX_TOASTS)
        await pilot.pause()
        toasts = list(app.screen.query(Toast))
        meter = app.screen.query_one(CostMeter).region
        assert toasts and not any(toast.region.overlaps(meter) for toast in toasts)
        await pilot.press("m")
        history = app.screen
        assert isinstance(history, HistoryScreen)
        assert [n.message for n in history.notices][:6] == [
            f"event {i}" for i in (5, 5, 4, 3, 2, 1)
        ]


async def test_no_toast_is_drawn_over_a_dialog(tmp_path: Path) -> None:
    from textual.widgets._toast import Toast

    from cockpit.ui.screens.confirm import ConfirmScreen

    app = make_app(tmp_path, read_only=True)
    log = MessageLog()
    async with app.run_test(size=(80, 24), message_hook=log.hook, notifications=True) as pilot:
        await settled(app)
        main = app.screen
        dialog = ConfirmScreen("Stop + terminate h5-5b5b5b?", "a question\n" * 8, "Stop")
        await app.push_screen(dialog)
        app.notify("a run failed meanwhile", severity="error", timeout=60)
        await log.until(lambda: len(dialog.query(Toast)) == 1)
        await pilot.pause()
        assert not any(toast.visible for toast in dialog.query(Toast))
        await pilot.press("n")
        assert app.screen is main
        await log.until(lambda: any(t.visible for t in main.query(Toast)))


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
async def test_the_cost_meter_and_metrics_are_never_cut(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    """No number is clipped to a stray digit: every line of the cost meter and every metric
    row's numbers fit in their widget (a clipped "min 0" was not the min)."""
    from textual.widgets import Static

    from widgets.cost_meter import CostMeter
    from widgets.sparklines import MetricRow

    app = make_app(tmp_path, read_only=True)
    async with app.run_test(size=size) as pilot:
        await settled(app)
        await pilot.pause()
        meter = app.screen.query_one(CostMeter)
        texts = [str(s.render()) for s in meter.query(Static)]
        assert any("cap" in t or "/h" in t for t in texts)
        for static in meter.query(Static):
            assert len(str(static.render())) <= static.content_region.width, str(static.render())
        for row in app.screen.query(MetricRow):
            numbers = row.query_one(".numbers", Static)
            text = str(numbers.render())
            assert numbers.region.right <= row.region.right and text.strip(), text
            assert numbers.content_region.width >= len(text), text
