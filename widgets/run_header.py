"""One line about the run on screen: id, hypothesis, backend, state, uptime, commit."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

STATE_MARK = {
    "starting": "◔",
    "running": "▶",
    "succeeded": "✓",
    "failed": "✗",
    "stopped": "■",
}


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    hypothesis: str
    backend: str
    state: str
    uptime_s: float
    commit: str
    detail: str = ""


def format_duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class RunHeader(Static):
    """Shows a `RunSummary`, or says that no run is selected."""

    DEFAULT_CSS = """
    RunHeader { height: 2; padding: 0 1; background: $boost; }
    RunHeader.-starting, RunHeader.-running { color: $text; }
    RunHeader.-failed { background: $error 25%; }
    RunHeader.-succeeded { background: $success 20%; }
    RunHeader.-stopped { background: $warning 15%; }
    """

    def show(self, summary: RunSummary | None) -> None:
        for state in STATE_MARK:
            self.remove_class(f"-{state}")
        if summary is None:
            self.update("no run yet — select a hypothesis")
            return
        self.add_class(f"-{summary.state}")
        text = Text()
        text.append(f"{summary.run_id}", style="bold")
        text.append(f"  {summary.hypothesis}  on {summary.backend}  ")
        text.append(f"{STATE_MARK.get(summary.state, '?')} {summary.state.upper()}", style="bold")
        text.append(f"  up {format_duration(summary.uptime_s)}  commit {summary.commit[:8]}")
        if summary.detail:
            text.append(f"\n{summary.detail}", style="italic")
        self.update(text)
