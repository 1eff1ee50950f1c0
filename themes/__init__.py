"""Colour themes for cockpit, as `textual.theme.Theme` objects, plus user themes from TOML.

Widgets and stylesheets use theme variables only — Textual's own ($error, $panel, ...) and the
cockpit variables below — so a theme changes every colour at once. State is never shown by
colour alone: every state also has a symbol and a word.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from textual.theme import Theme

COCKPIT_VARIABLES = {
    "cost-ok": "$success",
    "cost-warning": "$warning",
    "cost-over": "$error",
    "state-starting": "$accent",
    "state-running": "$primary",
    "state-succeeded": "$success",
    "state-failed": "$error",
    "state-stopped": "$warning",
    "stale": "$text-muted",
    "read-only": "$warning",
    "spark-low": "$primary-darken-2",
    "spark-high": "$primary-lighten-1",
    "text-quiet": "$foreground",
}
"""The cockpit's own variables and their fallbacks (`App.get_theme_variable_defaults`)."""

COCKPIT_DARK = Theme(
    name="cockpit-dark",
    primary="#5FAFD7",
    secondary="#87AF87",
    accent="#D7AF5F",
    warning="#D7AF00",
    error="#E0605A",
    success="#5FAF5F",
    foreground="#D0D0D0",
    background="#12161C",
    surface="#1A2029",
    panel="#222A35",
    dark=True,
    # Quieter than the text, and still 4.5:1 on every background (tests/test_contrast.py).
    variables={"text-quiet": "#A9B1BB"},
)

COCKPIT_LIGHT = Theme(
    name="cockpit-light",
    primary="#005F87",
    secondary="#3A6B3A",
    accent="#7A5600",
    warning="#9A6700",
    error="#B3261E",
    success="#2E7D32",
    foreground="#1C1C1C",
    background="#F7F7F4",
    surface="#EDEDE8",
    panel="#E0E0D8",
    dark=False,
    variables={"spark-low": "#7FA8C0", "spark-high": "#005F87", "text-quiet": "#4A4A46"},
)

COCKPIT_CONTRAST = Theme(
    name="cockpit-contrast",
    primary="#00BFFF",
    secondary="#FFFFFF",
    accent="#FFD700",
    warning="#FFD700",
    error="#FF5F5F",
    success="#00FF87",
    foreground="#FFFFFF",
    background="#000000",
    surface="#000000",
    panel="#1C1C1C",
    dark=True,
    variables={
        # Blue/orange rather than green/red: readable for the common colour-vision deficiencies
        # and on a projector; every state also carries a symbol and a word.
        "state-succeeded": "#00BFFF",
        "state-failed": "#FF8700",
        "cost-over": "#FF8700",
        "cost-ok": "#00BFFF",
        "spark-low": "#5F87AF",
        "spark-high": "#FFFFFF",
        "text-quiet": "#D0D0D0",
    },
)

THEMES: dict[str, Theme] = {
    theme.name: theme for theme in (COCKPIT_DARK, COCKPIT_LIGHT, COCKPIT_CONTRAST)
}

_THEME_FIELDS = (
    "primary", "secondary", "warning", "error", "success", "accent", "foreground",
    "background", "surface", "panel", "boost", "dark", "luminosity_spread",
    "text_alpha", "variables",
)  # fmt: skip


def load_user_themes(path: Path) -> tuple[list[Theme], list[str]]:
    """Themes from a TOML file (`[themes.NAME]` tables with Theme's fields); every problem is
    collected and returned, none raised."""
    if not path.exists():
        return [], []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        return [], [f"{path}: {exc}"]
    themes, errors = [], []
    for name, table in (data.get("themes") or {}).items():
        if not isinstance(table, dict):
            errors.append(f"{path}: [themes.{name}] must be a table")
            continue
        unknown = sorted(set(table) - set(_THEME_FIELDS))
        if unknown:
            errors.append(f"{path}: [themes.{name}]: unknown key(s) {', '.join(unknown)}")
            continue
        options: dict[str, Any] = dict(table)
        if "primary" not in options:
            errors.append(f"{path}: [themes.{name}]: `primary` is required")
            continue
        try:
            theme = Theme(name=name, **options)
            from textual.color import Color

            for key in ("primary", "secondary", "warning", "error", "success", "accent",
                        "foreground", "background", "surface", "panel"):  # fmt: skip
                value = options.get(key)
                if value is not None:
                    Color.parse(value)
        except Exception as exc:
            errors.append(f"{path}: [themes.{name}]: {exc}")
            continue
        themes.append(theme)
    return themes, errors
