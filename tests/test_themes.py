"""Themes: three built in, cockpit's variables with fallbacks, no literal colour outside
`themes/`, user themes from TOML with every error in one notification, the choice remembered."""

from __future__ import annotations

import re
from pathlib import Path

from cockpit.core.config import load_config
from cockpit.ui import preferences
from cockpit.ui.app import CockpitApp
from themes import COCKPIT_VARIABLES, THEMES, load_user_themes

ROOT = Path(__file__).resolve().parents[1]
_DECLARATION_COLOUR = re.compile(
    r":[^;{}\n]*(#[0-9a-fA-F]{3,8}\b|\brgba?\(|\bhsla?\(|\b(red|green|blue|yellow|white|black|"
    r"magenta|cyan|orange|purple|gr[ae]y|pink|brown|ansi_\w+)\b)"
)
_RICH_COLOUR = re.compile(r"style=\"[^\"]*\b(red|green|blue|yellow|white|black|magenta|cyan|#)")


def _css_sources() -> list[tuple[Path, str]]:
    sources = [(path, path.read_text()) for path in (ROOT / "cockpit").rglob("*.tcss")]
    for folder in ("widgets", "cockpit"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text()
            for block in re.findall(r'DEFAULT_CSS = """(.*?)"""', text, re.S):
                sources.append((path, block))
            sources.append((path, "\n".join(re.findall(r"style=\"[^\"]*\"", text))))
    return sources


def test_no_literal_colour_outside_themes() -> None:
    offenders = []
    for path, text in _css_sources():
        for match in _DECLARATION_COLOUR.finditer(text):
            offenders.append(f"{path.relative_to(ROOT)}: {match.group(0).strip()}")
        for match in _RICH_COLOUR.finditer(text):
            offenders.append(f"{path.relative_to(ROOT)}: {match.group(0)}")
    assert offenders == []


def test_three_themes_and_every_variable_has_a_fallback() -> None:
    assert {"cockpit-dark", "cockpit-light", "cockpit-contrast"} <= set(THEMES)
    assert not THEMES["cockpit-light"].dark
    for theme in THEMES.values():
        assert set(theme.variables) <= set(COCKPIT_VARIABLES)
    used = set()
    for _, text in _css_sources():
        used |= set(re.findall(r"\$([a-z][\w-]*)", text))
    assert {"cost-ok", "cost-warning", "cost-over", "state-failed", "read-only"} <= used


def test_user_themes_load_and_report_every_error_at_once(tmp_path: Path) -> None:
    path = tmp_path / "themes.toml"
    path.write_text(
        "[themes.mine]\nprimary = '#336699'\ndark = true\n"
        "[themes.typo]\nprimry = '#336699'\n"
        "[themes.nocolour]\nprimary = 'not-a-colour'\n"
    )
    themes, errors = load_user_themes(path)
    assert [theme.name for theme in themes] == ["mine"]
    assert len(errors) == 2 and "unknown key(s) primry" in errors[0]
    assert "nocolour" in errors[1]
    path.write_text("[themes\n")
    themes, errors = load_user_themes(path)
    assert themes == [] and len(errors) == 1


async def test_user_theme_errors_are_one_notification_and_the_choice_is_remembered(
    project: Path, user_config: Path
) -> None:
    (user_config / "cockpit").mkdir()
    (user_config / "cockpit" / "themes.toml").write_text(
        "[themes.mine]\nprimary = '#336699'\n"
        "[themes.bad]\nprimry = 'x'\n"
        "[themes.worse]\ncolor = 1\n"
    )
    app = CockpitApp(project, load_config(project), autostart_supervisor=False)
    async with app.run_test(size=(120, 40)) as pilot:
        notes = [n for n in app._notifications if n.title == "themes"]
        assert len(notes) == 1 and "bad" in notes[0].message and "worse" in notes[0].message
        assert "mine" in app.available_themes
        app.theme = "cockpit-light"  # as the palette's Theme command does
        await pilot.pause()
    assert preferences.remembered_theme() == "cockpit-light"
    again = CockpitApp(project, load_config(project), autostart_supervisor=False)
    assert again.theme == "cockpit-light"


# The main screen in each theme, at 80×24 and 160×48: tests/test_runs_view.py's snapshots.
