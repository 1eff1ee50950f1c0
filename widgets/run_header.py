"""The run on screen in two or three lines: who, where, state, uptime, commit; then what
matters now — the failure class and the line that decided it, warnings, the relaunch guard."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

from widgets.text_update import set_text

STATE_MARK = {
    "queued": "⋯",
    "starting": "◔",
    "running": "▶",
    "succeeded": "✓",
    "failed": "✗",
    "stopped": "■",
    "cap-exceeded": "$",
}
"""Every state has a symbol and a word: state is never shown by colour alone."""


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    hypothesis: str
    backend: str
    state: str
    uptime_s: float
    commit: str
    detail: str = ""
    failure_class: str | None = None
    failure_line: str | None = None
    failure_where: str | None = None
    """`train:7`: the source and line number of the deciding line."""
    warnings: tuple[str, ...] = ()
    attempt: int = 1
    max_attempts: int = 1
    guard: str = ""
    command: str = ""
    """The command that ran (or runs)."""
    why: str = ""
    """Why the panes show this run (`latest of 3 runs of H1`, `opened from the runs view`)."""
    pending: bool = False
    """It waits in a scheduler's queue: not up, nothing billed."""


def format_duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class RunHeader(Static):
    """Shows a `RunSummary`, or says that no run is selected."""

    DEFAULT_CSS = """
    RunHeader { height: auto; max-height: 5; padding: 0 1; background: $boost; }
    RunHeader.-starting { background: $state-starting 15%; }
    RunHeader.-running { background: $state-running 15%; }
    RunHeader.-failed, RunHeader.-cap-exceeded { background: $state-failed 25%; }
    RunHeader.-succeeded { background: $state-succeeded 20%; }
    RunHeader.-stopped { background: $state-stopped 15%; }
    RunHeader > .run-header--quiet { color: $text-quiet; }
    """
    COMPONENT_CLASSES = {"run-header--quiet"}

    def show(self, summary: RunSummary | None, empty: str = "no run yet") -> None:
        """The run's lines; `empty` says why there is none (the caller knows what is selected)."""
        # Only a change of state touches the classes: removing and adding the same class
        # every second restyled and repainted the header each time.
        current = summary.state if summary is not None else None
        for state in STATE_MARK:
            self.set_class(state == current, f"-{state}")
        if summary is None:
            set_text(self, empty)
            return
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"{summary.run_id}", style="bold")
        text.append(f"  {summary.hypothesis}  on {summary.backend}  ")
        text.append(f"{STATE_MARK.get(summary.state, '?')} {summary.state.upper()}", style="bold")
        lived = "up" if summary.state in ("starting", "running") else "ran"
        if summary.pending:  # queued for a place, or a job waiting for its node
            lived = "queued for"  # not up: a job waiting for its node is not running
        text.append(f"  {lived} {format_duration(summary.uptime_s)}  commit {summary.commit[:8]}")
        if summary.attempt > 1:
            text.append(f"  attempt {summary.attempt}/{summary.max_attempts}")
        if summary.why:
            text.append(f"  · {summary.why}", style="italic")
        for warning in summary.warnings:
            text.append(f"  ⚠ {warning}", style="bold reverse")
        if summary.command:
            quiet = self.get_component_rich_style("run-header--quiet", partial=True)
            text.append(f"\n$ {summary.command}", style=quiet)
        if summary.failure_class:
            where = f" at {summary.failure_where} (j jumps there)" if summary.failure_where else ""
            text.append(f"\n✗ {summary.failure_class}{where}: ", style="bold")
            text.append(summary.failure_line or "")
        elif summary.detail:
            text.append(f"\n{summary.detail}", style="italic")
        if summary.guard:
            text.append(f"\nnot relaunched: {summary.guard}", style="italic")
        set_text(self, text)
