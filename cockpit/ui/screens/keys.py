"""How the cockpit's keys are listed: in one order everywhere (footer, help, palette), the
actions first, so the keys that spend or save money are the ones a narrow terminal still shows.

The order is `BINDING_IDS`'s; keys that are not cockpit's own (Textual's focus and scrolling
keys) follow it. The palette holds a command for every cockpit key active on the screen, made
from the binding itself, so the two cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Any

from textual.app import SystemCommand
from textual.binding import ActiveBinding
from textual.screen import Screen

from cockpit.core.binding_ids import BINDING_IDS

_RANK = {binding_id: rank for rank, binding_id in enumerate(BINDING_IDS)}

PALETTE_TITLES = {
    "source_train": "Show the train log",
    "source_onstart": "Show the onstart (setup) log",
    "source_gpu": "Show the gpu samples",
    "stop": "Stop + terminate",
    "filter": "Filter the log",
    "follow": "Follow the log",
    "jump": "Jump to the failure line",
    "help": "Help: keys and rules in force",
    "quit": "Quit this window",
    "messages": "Messages: every toast shown",
}
"""Palette titles where the footer's one word is not enough."""


def ordered(bindings: dict[str, ActiveBinding]) -> dict[str, ActiveBinding]:
    """`bindings` with cockpit's keys first, in `BINDING_IDS` order, then the rest as they
    came."""
    rest = len(_RANK)
    return dict(
        sorted(bindings.items(), key=lambda item: _RANK.get(item[1].binding.id or "", rest))
    )


def is_cockpits(active: ActiveBinding) -> bool:
    return (active.binding.id or "") in _RANK


def palette_commands(screen: Screen[Any]) -> Iterable[SystemCommand]:
    """One command per cockpit key active on `screen`, each running what the key runs."""
    seen = set()
    for active in screen.active_bindings.values():
        binding = active.binding
        if not is_cockpits(active) or binding.id in seen or not active.enabled:
            continue
        seen.add(binding.id)
        title = PALETTE_TITLES.get(binding.id or "", binding.description.capitalize())
        key = screen.app.get_key_display(binding)
        yield SystemCommand(
            title,
            f"{binding.tooltip or binding.description} (key: {key})",
            partial(screen.app.run_action, binding.action, active.node),
        )
