"""Colour themes for cockpit, as `textual.theme.Theme` objects.

Widgets and stylesheets refer to theme variables only, so a theme changes every colour at once.
"""

from __future__ import annotations

from textual.theme import Theme

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
)

THEMES: dict[str, Theme] = {theme.name: theme for theme in (COCKPIT_DARK,)}
