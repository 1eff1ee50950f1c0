"""Per-user settings kept between sessions (the chosen theme) and user themes, in the XDG
config directory: `$XDG_CONFIG_HOME/cockpit/` (default `~/.config/cockpit/`)."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "cockpit"


def remembered_theme() -> str | None:
    try:
        data = json.loads((config_dir() / "settings.json").read_text())
    except (OSError, ValueError):
        return None
    theme = data.get("theme") if isinstance(data, dict) else None
    return theme if isinstance(theme, str) else None


def remember_theme(name: str) -> None:
    path = config_dir() / "settings.json"
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            data = {}
        data = data if isinstance(data, dict) else {}
        data["theme"] = name
        path.write_text(json.dumps(data, indent=2) + "\n")


def user_themes_file() -> Path:
    return config_dir() / "themes.toml"
