"""The plan pane: hypotheses grouped by plan, with each plan's state, skip flags and errors."""

from __future__ import annotations

from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from widgets.text_update import set_text

STATUS_MARK = {
    "pending": ("○", "pending"),
    "queued": ("⋯", "queued"),
    "running": ("▶", "running"),
    "starting": ("◔", "starting"),
    "done": ("✓", "done"),
    "failed": ("✗", "failed"),
    "stopped": ("■", "stopped"),
    "cap-exceeded": ("$", "cap-exceeded"),
}


@dataclass(frozen=True)
class HypothesisRow:
    key: str
    """Unique across plans: `<plan>:<id>`."""
    id: str
    text: str
    status: str
    """pending, starting, running, done, failed or stopped."""
    checked: bool = False
    verdict: str | None = None
    """The last run's verdict as written back (adopted, rejected, inconclusive, failed (oom)),
    shown instead of the bare status once there is one."""


@dataclass(frozen=True)
class PlanGroup:
    key: str
    title: str
    state: str | None
    flags: tuple[str, ...] = ()
    skip_lines: tuple[str, ...] = ()
    """Skip-list lines cockpit has no flag for: shown, never dropped."""
    rows: tuple[HypothesisRow, ...] = ()
    error: str | None = None
    """Why the file on disk could not be read; the rows are the last good ones."""


class HypothesisList(Vertical):
    """Shows plans and hypotheses; posts `HypothesisList.Highlighted` when the cursor moves."""

    DEFAULT_CSS = """
    HypothesisList { height: 1fr; background: $surface; }
    HypothesisList > #plan-errors { display: none; height: auto; padding: 0 1;
        background: $state-failed 20%; color: $text; }
    HypothesisList > #plan-errors.-visible { display: block; }
    HypothesisList > OptionList, HypothesisList > OptionList:focus {
        height: 1fr; border: none; background: $surface; }
    /* A plan's heading is a disabled option (the cursor skips it), not disabled text: it is
       read, so it keeps the text colour (Textual's $text-disabled is below 4.5:1). */
    HypothesisList > OptionList > .option-list--option-disabled { color: $text; }
    HypothesisList > .hypothesis-list--quiet { color: $text-quiet; }
    """
    COMPONENT_CLASSES = {"hypothesis-list--quiet"}

    class Highlighted(Message):
        def __init__(self, key: str | None) -> None:
            self.key = key
            super().__init__()

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._groups: tuple[PlanGroup, ...] = ()
        self._marked: set[str] = set()

    @property
    def marked(self) -> tuple[str, ...]:
        """The marked hypotheses' keys, in the order the list shows them."""
        return tuple(row.key for group in self._groups for row in group.rows
                     if row.key in self._marked)  # fmt: skip

    def toggle_mark(self, key: str) -> None:
        """Mark or unmark a hypothesis (several are launched at once)."""
        self._marked ^= {key}
        self._render_groups()

    def clear_marks(self) -> None:
        if self._marked:
            self._marked = set()
            self._render_groups()

    def compose(self) -> ComposeResult:
        yield Static(id="plan-errors")
        yield OptionList(id="hypotheses")

    @property
    def selected_key(self) -> str | None:
        options = self.query_one(OptionList)
        if options.highlighted is None:
            return None
        option = options.get_option_at_index(options.highlighted)
        return option.id if option.id and not option.id.startswith("plan::") else None

    def set_groups(self, groups: tuple[PlanGroup, ...]) -> None:
        if groups == self._groups:
            return
        self._groups = groups
        self._render_groups()

    def notify_style_update(self) -> None:
        """A new theme: the prompts carry colours of the old one."""
        super().notify_style_update()
        if self._groups and self.is_mounted:
            self._render_groups()

    def _render_groups(self) -> None:
        groups = self._groups
        quiet = self.get_component_rich_style("hypothesis-list--quiet", partial=True)
        options = self.query_one(OptionList)
        keep = self.selected_key
        prompts: list[Option] = []
        for group in groups:
            prompts.append(
                Option(self._group_prompt(group, quiet), id=f"plan::{group.key}", disabled=True)
            )
            for row in group.rows:
                marked = row.key in self._marked
                prompts.append(Option(self._row_prompt(row, quiet, marked), id=row.key))
        options.clear_options()
        options.add_options(prompts)
        target = None
        for index, option in enumerate(prompts):
            if option.id == keep or (target is None and not option.disabled and keep is None):
                target = index
                if option.id == keep:
                    break
        if target is not None:
            options.highlighted = target
        errors = [group.error for group in groups if group.error]
        banner = self.query_one("#plan-errors", Static)
        set_text(banner, "\n".join(f"⚠ {error}" for error in errors))
        banner.set_class(bool(errors), "-visible")

    def select_key(self, key: str) -> None:
        options = self.query_one(OptionList)
        for index in range(options.option_count):
            if options.get_option_at_index(index).id == key:
                options.highlighted = index
                return

    @staticmethod
    def _group_prompt(group: PlanGroup, quiet: Style) -> Text:
        text = Text()
        text.append(group.title, style="bold")
        if group.state:
            text.append(f"  [{group.state}]", style="italic")
        if group.flags:
            text.append("\n  skip: " + ", ".join(group.flags), style=quiet)
        for line in group.skip_lines:
            text.append(f"\n  skip: {line}", style=quiet)
        return text

    @staticmethod
    def _row_prompt(row: HypothesisRow, quiet: Style, marked: bool = False) -> Text:
        mark, word = STATUS_MARK.get(row.status, ("?", row.status))
        word = row.verdict or word
        text = Text()
        if marked:
            text.append("● ", style="bold reverse")
        text.append(f"{mark} {row.id:<4}", style="bold")
        text.append(f"{word:<8} ", style="italic")
        if row.checked:
            text.append("[x] ", style=quiet)
        text.append(row.text)
        return text

    @on(OptionList.OptionHighlighted)
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        self.post_message(self.Highlighted(self.selected_key))
