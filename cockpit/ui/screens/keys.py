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
from textual.binding import ActiveBinding, Binding, BindingType
from textual.screen import Screen

from cockpit.core.binding_ids import BINDING_IDS

MAIN_BINDINGS: list[BindingType] = [
    Binding("1", "show_source('train')", "train", id="source_train",
            tooltip="Show the training log"),
    Binding("2", "show_source('onstart')", "onstart", id="source_onstart",
            tooltip="Show the environment setup log"),
    Binding("3", "show_source('gpu')", "gpu", id="source_gpu", tooltip="Show GPU samples"),
    Binding("f", "follow", "follow", id="follow", tooltip="Follow the end of the log again"),
    Binding("slash", "search", "search", id="search",
            tooltip="Search the whole log (a regex or text; lower case matches any case)"),
    Binding("ampersand", "filter", "filter", id="filter",
            tooltip="Show only the lines that match (as less's &)"),
    Binding("g", "log_top", "top", id="log_top",
            tooltip="The log's first line (Home too, in the log): the whole log, browsed"),
    Binding("G", "log_tail", "tail", id="log_tail",
            tooltip="The log's last line, following (End too, in the log)"),
    Binding("j", "jump_to_failure", "jump", id="jump",
            tooltip="Show the log line that decided the run's failure"),
    Binding("w", "wrap", "wrap", id="wrap",
            tooltip="Long log lines: wrapped over several rows, or one row scrolled sideways"),
    Binding("question_mark", "help", "help", id="help",
            tooltip="Every key and the rules in force"),
    Binding("a", "runs", "runs", id="runs",
            tooltip="Every run of the project: sort, filter, open, compare"),
    Binding("u", "gpus", "gpus", id="gpus",
            tooltip="Every GPU of every host: load, memory, the run on it (nvitop-like)"),
    Binding("y", "copy_run_id", "copy id", id="copy",
            tooltip="Copy the shown run's id (OSC 52: over SSH and in tmux too)"),
    Binding("o", "open_run_dir", "open dir", id="open",
            tooltip="Open the shown run's directory (logs, artifacts), or say where it is"),
    Binding("m", "messages", "messages", id="messages",
            tooltip="Every message this window showed, newest first"),
]  # fmt: skip
"""The main screen's own keys, in both modes (the interactive actions are `Controls`')."""

_RANK = {binding_id: rank for rank, binding_id in enumerate(BINDING_IDS)}

PALETTE_TITLES = {
    "source_train": "Show the train log",
    "source_onstart": "Show the onstart (setup) log",
    "source_gpu": "Show the gpu samples",
    "stop": "Stop + terminate",
    "filter": "Filter the log",
    "search": "Search the whole log",
    "log_top": "Go to the log's first line",
    "log_tail": "Go to the log's last line and follow",
    "follow": "Follow the log",
    "jump": "Jump to the failure line",
    "help": "Help: keys and rules in force",
    "quit": "Quit this window",
    "messages": "Messages: every toast shown",
    "runs": "Runs: every run of the project",
    "gpus": "GPUs: every GPU of every host",
    "copy": "Copy the shown run's id",
    "open": "Open the shown run's directory",
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
