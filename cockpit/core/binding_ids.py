"""The ids of every key binding, so `cockpit.toml` can be checked without importing Textual.

A test asserts this list matches the bindings the screens really define.
"""

from __future__ import annotations

BINDING_IDS: dict[str, str] = {
    "launch": "l",
    "stop": "s",
    "relaunch": "r",
    "loop": "L",
    "help": "question_mark",
    "quit": "q",
    "runs": "a",
    "gpus": "u",
    "follow": "f",
    "search": "slash",
    "filter": "ampersand",
    "log_top": "g",
    "log_tail": "G",
    "jump": "j",
    "wrap": "w",
    "source_train": "1",
    "source_onstart": "2",
    "source_gpu": "3",
    "copy": "y",
    "open": "o",
    "messages": "m",
    "mark": "space",
}
"""Binding id to its default key, in the order the footer, help and palette list them: the
actions that spend or save money first, so a narrow terminal's footer still shows them."""

FORBIDDEN_KEYS = frozenset({"ctrl+j", "ctrl+s", "ctrl+o"})
"""Keys that tmux and terminals take for themselves: never bound by default."""
