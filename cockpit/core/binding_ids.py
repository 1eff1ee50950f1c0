"""The ids of every key binding, so `cockpit.toml` can be checked without importing Textual.

A test asserts this list matches the bindings the screens really define.
"""

from __future__ import annotations

BINDING_IDS: dict[str, str] = {
    "launch": "l",
    "stop": "s",
    "relaunch": "r",
    "loop": "L",
    "source_train": "1",
    "source_onstart": "2",
    "source_gpu": "3",
    "follow": "f",
    "filter": "slash",
    "jump": "j",
    "help": "question_mark",
    "quit": "q",
}
"""Binding id to its default key."""

FORBIDDEN_KEYS = frozenset({"ctrl+j", "ctrl+s", "ctrl+o"})
"""Keys that tmux and terminals take for themselves: never bound by default."""
