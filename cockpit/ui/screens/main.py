"""The main screen: plans on the left, the shown run's header, logs, metrics and cost.

`MainScreen` only reads (the store, the mirror, the plan files): it is the whole of watch mode.
In the interactive app it is given `Controls` (`cockpit.ui.screens.control`), a container around its
content holding the actions that write request rows; watch mode's screen has none, so it has no
such binding, action or command at all rather than disabled ones.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import events, on
from textual.app import ComposeResult, SystemCommand
from textual.binding import ActiveBinding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from cockpit.core.binding_ids import BINDING_IDS
from cockpit.core.clock import Clock
from cockpit.core.config import CockpitConfig
from cockpit.core.paths import ProjectPaths
from cockpit.core.planbook import PlanBook
from cockpit.core.records import Alert, RunRecord
from cockpit.ui import viewmodel
from cockpit.ui.browse_feed import BrowseFeed
from cockpit.ui.log_feed import FeedMessage, LogFeed
from cockpit.ui.presence import Presence
from cockpit.ui.screens import keys, run_shortcuts, views
from cockpit.ui.screens.log_follow import LogFollower
from cockpit.ui.screens.plan_watch import PlansReloaded, PlanWatch
from cockpit.ui.screens.run_list import RunList
from cockpit.ui.screens.selection import Selection
from cockpit.ui.screens.status_line import StatusLine
from cockpit.ui.store_feed import StoreChanged, StoreFeed, StoreSnapshot
from widgets.browse_log import BrowseLog
from widgets.cost_meter import CostMeter
from widgets.follow_log import FollowLog
from widgets.hypothesis_list import HypothesisList
from widgets.log_pane import LogPane
from widgets.run_header import RunHeader
from widgets.sparklines import MetricSeries, MetricSparklines

if TYPE_CHECKING:
    from cockpit.ui.screens.control import Controls


def _shown_key(run: RunRecord | None) -> object:
    """The shown run less what changes every poll (cost, uptime): what forces a render."""
    if run is None:
        return None
    return dataclasses.replace(run, cost_so_far=0.0, uptime_s=0.0)


ACTION_KEYS = frozenset(BINDING_IDS[name] for name in ("launch", "stop", "relaunch", "loop"))
"""The interactive cockpit's action keys (their defaults), answered in watch mode."""


class MainScreen(Screen[None]):
    BINDINGS = keys.MAIN_BINDINGS

    def __init__(
        self,
        project: Path,
        config: CockpitConfig,
        read_only: bool,
        clock: Clock = time.time,
        controls: Callable[[MainScreen], Controls] | None = None,
    ) -> None:
        super().__init__()
        self.project = project
        self.config = config
        self.read_only = read_only
        self.clock = clock
        self.paths = ProjectPaths(project)
        self.presence = Presence(self.paths.state, "watch" if read_only else "interactive")
        self.log_feed = LogFeed(self.paths, self.post_message)
        self.browse_feed = BrowseFeed(self.paths, self.post_message)
        """Reads any line of the shown run's logs by number, in a thread (browse mode)."""
        """Reads the shown run's mirrors in a thread and posts their lines (see `log_feed`)."""
        self.feed = StoreFeed(
            self.paths, config, read_only, self.presence, self.post_message, clock
        )
        """Reads the store in a thread and posts `StoreChanged` (see `store_feed`)."""
        self.snapshot = StoreSnapshot()
        """What the feed last read."""
        self.settled = asyncio.Event()
        """Set once a snapshot about the shown run has been applied (the screen is complete:
        the docs' pictures and the snapshot tests wait for it)."""
        self.store_error: str | None = None
        self._shown_series: dict[str, MetricSeries] = {}
        self._facts_for: str | None = None
        """The run the metrics and cost facts on screen were read for."""
        self.planbook = PlanBook(project, config.plans)
        self.plan_watch = PlanWatch(self.planbook, self.post_message)
        """Reads the plan files again after an edit (in a thread) and posts `PlansReloaded`."""
        self.run_list = RunList()
        self.shown: RunRecord | None = None
        self._version: int | None = None
        self._seen: tuple[object, ...] = ()
        self.alerts: tuple[Alert, ...] = ()
        """The supervisor's standing alerts (a broken cockpit.toml), from the store."""
        self.enforced: dict[str, Any] = {}
        """The caps and policy the supervisor enforces (`meta.enforced`), not the file's."""
        self.selection: Selection  # made on mount, with the plan list
        self._said_read_only = False
        self.status = StatusLine(self, project, self.paths, self.presence, read_only, clock)
        self.logs: LogFollower  # made on mount, with the pane
        self.controls = controls(self) if controls is not None and not read_only else None
        """The interactive actions around the content; None in watch mode."""

    # ---- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        if self.controls is None:
            yield from self._content()
            return
        with self.controls:  # its keys apply wherever the focus is in the content
            yield from self._content()

    def _content(self) -> ComposeResult:
        mode = "READ-ONLY · watch" if self.read_only else "interactive"
        yield Static(
            f"cockpit · {self.project.name} · {mode}",
            id="status-line",
            classes="-read-only" if self.read_only else "",
        )
        with Horizontal(id="body"):
            with Vertical(id="left"):
                yield HypothesisList(id="plan-list")
            with Vertical(id="right"):
                yield RunHeader(id="run-header")
                yield LogPane(id="log-pane")
        with Horizontal(id="bottom"):
            yield MetricSparklines(id="metrics")
            yield CostMeter(id="cost")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.logs = LogFollower(self.query_one(LogPane), self.log_feed, self.browse_feed)
        self.selection = Selection(self.planbook, self.query_one(HypothesisList), self.read_only)
        self.reload_plans()
        self.apply(self.feed.read_now())
        self.run_worker(self.feed.run, thread=True, group="store-feed", exit_on_error=False)
        self.run_worker(self.log_feed.run, thread=True, group="log-feed", exit_on_error=False)
        self.run_worker(self.browse_feed.run, thread=True, group="browse", exit_on_error=False)
        self.set_interval(1.0, self.tick, name="uptime-tick")
        # The file watcher (and the ~20 ms of imports it needs) starts after the first frame;
        # an edit made before it is armed is caught when it is.
        self.call_after_refresh(
            self.run_worker, self.plan_watch.run, exclusive=True, group="plan-watch",
            exit_on_error=False,
        )  # fmt: skip

    def on_unmount(self) -> None:
        self.feed.stop()
        self.log_feed.stop()
        self.browse_feed.stop()

    @property
    def runs(self) -> list[RunRecord]:
        """The runs shown, newest first."""
        return self.run_list.runs

    # ---- plans ----------------------------------------------------------------------------

    def reload_plans(self) -> None:
        self.planbook.reload()
        self._update_plan_list()

    @on(PlansReloaded)
    def _update_plan_list(self) -> None:
        groups = viewmodel.plan_groups(self.planbook.entries, self.runs)
        self.query_one(HypothesisList).set_groups(groups)

    # ---- store ----------------------------------------------------------------------------

    @on(StoreChanged)
    def _store_changed(self, event: StoreChanged) -> None:
        self.apply(event.snapshot)

    def apply(self, snapshot: StoreSnapshot) -> None:
        """Show what the feed read; no SQLite and no file here (the event loop never waits)."""
        first = self.snapshot.version == 0 and not self.snapshot.error
        self.snapshot = snapshot
        if snapshot.error is not None:
            self.store_error = snapshot.error
            self._render_run()
            self.status.update(self.runs, snapshot)
            return
        force = first or self.store_error is not None
        self.store_error = None
        if snapshot.version != self._version:
            self.log_feed.poke()  # something was committed: perhaps lines
        self._version = snapshot.version
        self.run_list.runs = list(snapshot.runs)
        # The list, the plan rows and the announcements are redone only when a run is new or
        # its state or warnings moved (every poll changes the active run's cost).
        if snapshot.moved or force:
            self.status.announce_state_changes(self.runs)
            self._update_plan_list()
            self.selection.follow_new_runs(self.runs, first)
        self._choose_shown_run()
        # The supervisor writes its heartbeat and the run's cost every poll: on those alone
        # the clock-driven parts wait for the next tick (a second at most) instead of a frame
        # of their own; anything else about the shown run, or the active count, shows now.
        self.alerts = snapshot.alerts
        self.enforced = snapshot.enforced
        seen = (
            _shown_key(self.shown),
            tuple(run.state for run in self.runs if run.active),
            self.alerts,
            self.max_attempts,
        )
        facts_for = snapshot.shown if self.shown and snapshot.shown == self.shown.id else None
        if force or seen != self._seen or facts_for != self._facts_for:
            self._seen, self._facts_for = seen, facts_for
            self._render_run()
            self.status.update(self.runs, snapshot)
        elif snapshot.series != self._shown_series:
            self._render_metrics()
        if self.controls is not None:
            self.controls.requests_ended(snapshot.requests)
        if snapshot.shown == (self.shown.id if self.shown else None):
            self.settled.set()

    def _choose_shown_run(self) -> None:
        """What the panes show (`Selection`): every action applies to it."""
        chosen = self.selection.choose(self.runs)
        previous = self.shown.id if self.shown else None
        self.shown = chosen
        if (chosen.id if chosen else None) != previous:
            self.feed.want(chosen.id if chosen else None)
            self.logs.show(chosen)

    def open_run(self, run: RunRecord) -> None:
        """Show `run` in the panes (from the runs view): any run, an old attempt too."""
        self.selection.open(run)
        self._choose_shown_run()
        self._render_run()

    def _render_run(self) -> None:
        self._render_clock_parts()
        self._render_metrics()

    def _render_metrics(self) -> None:
        """The shown run's series, once the feed has read them for it (a moment after the
        cursor moves, the panes show nothing rather than another run's numbers)."""
        fresh = self.snapshot.about(self.shown)
        self._shown_series = fresh.series if fresh else {}
        self.query_one(MetricSparklines).show(self._shown_series)

    @property
    def max_attempts(self) -> int:
        return viewmodel.enforced_max_attempts(self.enforced, self.config)

    def _render_clock_parts(self) -> None:
        """What changes with the clock alone: the header's uptime and the cost meter."""
        now = self.clock()
        run = self.shown
        header = self.query_one(RunHeader)
        if self.store_error is not None:  # whatever moves meanwhile, this is what is true
            header.show(None, f"waiting for the store: {self.store_error}")
        else:
            header.show(
                viewmodel.run_summary(run, now, self.max_attempts, self.selection.why),
                viewmodel.why_no_run(self.read_only, self.selection.highlighted),
            )
        fresh = self.snapshot.about(run)
        reading = viewmodel.cost_reading(run, now, fresh.cost if fresh else None)
        self.query_one(CostMeter).show(reading)

    def tick(self) -> None:
        # Metrics change only with the store (`apply` renders them); the clock
        # moves uptime and cost.
        if self.shown is not None and self.shown.active:
            self._render_clock_parts()
        self.status.update(self.runs, self.snapshot)

    # ---- the log pane's actions ------------------------------------------------------------

    @on(LogPane.FilterChanged)
    def _filter_changed(self, message: LogPane.FilterChanged) -> None:
        self.logs.filter(message.text)

    @on(FeedMessage)
    def _from_a_feed(self, message: FeedMessage) -> None:
        message.deliver(self.logs)

    @on(FollowLog.History)
    def _log_history(self, message: FollowLog.History) -> None:
        self.logs.browse(0, message.back)

    @on(LogPane.SearchAsked)
    def _search(self, message: LogPane.SearchAsked) -> None:
        self.logs.search(message.query, message.from_line, message.forward)

    @on(BrowseLog.Tail)
    def _browse_tail(self) -> None:
        self.logs.follow()

    def action_show_source(self, source: str) -> None:
        self.query_one(LogPane).source = source

    def action_follow(self) -> None:
        self.logs.follow()

    def action_log_top(self) -> None:
        self.logs.browse(0)

    def action_log_tail(self) -> None:
        self.logs.follow()

    def action_jump_to_failure(self) -> None:
        fresh = self.snapshot.about(self.shown)
        offset = fresh.failure_offset if fresh else None
        if not self.logs.jump_to_failure(self.shown, offset):
            self.notify("the run on screen has no failure line to jump to", severity="warning")

    def action_wrap(self) -> None:
        self.logs.toggle_wrap()

    def action_filter(self) -> None:
        self.query_one(LogPane).open_filter()

    def action_search(self) -> None:
        self.query_one(LogPane).open_search()

    # ---- selection ------------------------------------------------------------------------

    @on(HypothesisList.Highlighted)
    def _hypothesis_highlighted(self, event: HypothesisList.Highlighted) -> None:
        self.selection.cursor_moved(event.key)
        self._choose_shown_run()
        self._render_run()

    def on_key(self, event: events.Key) -> None:
        """Watch mode has no actions (not disabled ones: none); a key that would act in the
        interactive cockpit is answered once, so it does not look broken."""
        if self.read_only and event.key in ACTION_KEYS and not self._said_read_only:
            self._said_read_only = True
            self.notify(
                "watch mode is read-only: launch, stop, relaunch and loop are in `cockpit`",
                severity="warning",
            )

    # ---- view actions (both modes) --------------------------------------------------------

    def action_help(self) -> None:
        from cockpit.ui.rules_in_force import rules_in_force
        from cockpit.ui.screens.help import HelpScreen

        rules = rules_in_force(self.enforced, self.config)
        self.app.push_screen(HelpScreen.of(self, self.read_only, rules))

    def action_runs(self) -> None:
        views.open_runs(self)

    def action_gpus(self) -> None:
        views.open_gpus(self)

    def action_copy_run_id(self) -> None:
        run_shortcuts.copy_run_id(self, self.shown)

    def action_open_run_dir(self) -> None:
        shown = self.shown
        where = self.paths.mirror(shown.id) if shown else self.paths.runs
        run_shortcuts.open_run_dir(self, shown, where)

    def action_messages(self) -> None:
        from cockpit.ui.notices import Notices
        from cockpit.ui.screens.history import HistoryScreen

        notices = getattr(self.app, "notices", None)
        said = notices.history if isinstance(notices, Notices) else ()
        self.app.push_screen(HistoryScreen(said))

    @property
    def active_bindings(self) -> dict[str, ActiveBinding]:
        """The keys in the order footer, help and palette list them: actions first."""
        return keys.ordered(super().active_bindings)

    def palette_commands(self) -> Iterable[SystemCommand]:
        return keys.palette_commands(self)
