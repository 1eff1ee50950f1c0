"""Every text colour in every theme meets WCAG AA (4.5:1) against its background, computed
from the styles the theme variables give the cockpit's widgets — in each state they can be in
(a stale or unsupervised status line, a failed run's header, a cost over its cap)."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.style import Style
from textual.widget import Widget
from textual.widgets import Footer

from cockpit.ui.app import CockpitApp
from cockpit.ui.screens.main import MainScreen
from tests.test_snapshots import make_app
from themes import THEMES
from tools.showcase import settled
from widgets.cost_meter import CostMeter
from widgets.hypothesis_list import HypothesisList
from widgets.run_header import STATE_MARK, RunHeader

AA = 4.5


def luminance(rgb: tuple[int, int, int]) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def ratio(style: Style) -> float:
    assert style.color is not None and style.bgcolor is not None, style
    fg = luminance(style.color.get_truecolor())
    bg = luminance(style.bgcolor.get_truecolor())
    return (max(fg, bg) + 0.05) / (min(fg, bg) + 0.05)


def text_styles(app: CockpitApp) -> dict[str, Style]:
    """What text is drawn with on the main screen now: every widget's own style, and the
    component styles cockpit draws text in."""
    screen = app.screen
    found: dict[str, Style] = {}
    for widget in screen.query(Widget):
        if widget.display and widget.visible and widget.region.area:
            found[f"{type(widget).__name__}#{widget.id}.{'.'.join(widget.classes)}"] = (
                widget.rich_style
            )
    plans = screen.query_one(HypothesisList)
    options = plans.query_one("OptionList")
    found["skip line"] = options.rich_style + plans.get_component_rich_style(
        "hypothesis-list--quiet", partial=True
    )
    found["plan heading"] = options.get_component_rich_style("option-list--option-disabled")
    header = screen.query_one(RunHeader)
    found["command line"] = header.rich_style + header.get_component_rich_style(
        "run-header--quiet", partial=True
    )
    footer = screen.query_one(Footer)
    for key in footer.query("FooterKey"):
        for part in ("footer-key--key", "footer-key--description"):
            found[f"footer {part}"] = key.rich_style + key.get_component_rich_style(part)
    return found


@pytest.mark.parametrize("theme", sorted(THEMES))
async def test_every_text_colour_meets_wcag_aa(tmp_path: Path, theme: str) -> None:
    app = make_app(tmp_path, read_only=False)
    app.theme = theme
    low: list[str] = []
    async with app.run_test(size=(160, 48)) as pilot:
        await settled(app)
        screen = app.screen
        assert isinstance(screen, MainScreen)
        status = screen.query_one("#status-line")
        header = screen.query_one(RunHeader)
        cost = screen.query_one(CostMeter)
        states = [("as seeded", lambda: None)]
        for cls in ("-stale", "-unsupervised", "-read-only"):
            states.append((f"status {cls}", lambda cls=cls: status.set_class(True, cls)))
        for state in STATE_MARK:
            states.append((f"header {state}", lambda state=state: header.set_classes(f"-{state}")))
        for cls in ("-capped", "-warning", "-over"):
            states.append((f"cost {cls}", lambda cls=cls: cost.set_classes(f"-capped {cls}")))
        for name, make in states:
            make()
            await pilot.pause()
            for where, style in text_styles(app).items():
                if ratio(style) < AA:
                    low.append(f"{name}: {where} {ratio(style):.2f}:1 ({style})")
            status.set_classes("")
    assert not low, "\n".join(sorted(set(low)))
