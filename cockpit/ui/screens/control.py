"""The interactive cockpit's actions: launch, stop + terminate, relaunch, raise a cap — each a
request row for the supervisor, followed to its outcome.

`Controls` is a container the interactive main screen puts around its content, so its keys
apply wherever the focus is; watch mode's screen has none, so it has no such binding, action or
command at all (not merely disabled). The screen is given to it: it reads the run shown, the
store and the project from there.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from textual import on
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message

from cockpit.core.protocol import (
    Command,
    LaunchRequest,
    RaiseCapRequest,
    RelaunchRequest,
    RequestStatus,
    RunState,
    StopRequest,
)
from cockpit.core.records import Request, RunRecord
from cockpit.store.sqlite_file import StoreError
from cockpit.ui import viewmodel
from cockpit.ui.notices import say
from cockpit.ui.screens.main import MainScreen
from cockpit.ui.screens.status_line import SupervisionChecked
from widgets.cost_meter import format_dollars
from widgets.hypothesis_list import HypothesisList

if TYPE_CHECKING:
    from cockpit.store.reader import StoreReader


class RequestSent(Message):
    """A request row was written: the store feed watches for its outcome from now on."""

    def __init__(self, kind: str, request_id: str, what: str, event: str) -> None:
        self.kind = kind
        self.request_id = request_id
        self.what = what
        """What it asks, in words (`stop h3-…`), for the toasts."""
        self.event = event
        """The toast key of the event it starts (`notices.say`): its outcome replaces it."""
        super().__init__()


class RequestFinished(Message):
    """The supervisor finished a request sent from here (read by the store feed); `run` is
    the run it made or acted on."""

    def __init__(self, request: Request, run: RunRecord | None, what: str, event: str) -> None:
        self.request = request
        self.run = run
        self.what = what
        self.event = event
        super().__init__()


class Controls(Vertical):
    """Launch, stop + terminate, relaunch — all as request rows — around the main screen's
    content."""

    DEFAULT_CSS = "Controls { height: 1fr; }"

    BINDINGS = [
        Binding(
            "l",
            "launch",
            "launch",
            id="launch",
            tooltip="Launch the selected hypothesis on the default backend",
        ),
        Binding(
            "s",
            "stop",
            "stop",
            id="stop",
            tooltip="Stop and terminate the run shown (asks first, with its cost)",
        ),
        Binding(
            "r",
            "relaunch",
            "relaunch",
            id="relaunch",
            tooltip="Launch the shown run's hypothesis again",
        ),
        Binding(
            "space",
            "mark",
            "mark",
            id="mark",
            tooltip="Mark the selected hypothesis: l then launches every marked one, in the "
            "plan's order (those without a free GPU are queued)",
        ),
        Binding(
            "L",
            "loop",
            "loop",
            id="loop",
            tooltip="Start or stop the loop over the selected plan's open hypotheses (asks first)",
        ),
    ]

    def __init__(self, view: MainScreen, autostart_supervisor: bool = True) -> None:
        super().__init__(id="controls")
        self.view = view
        """The screen shown: its run, store, project and config."""
        self.autostart_supervisor = autostart_supervisor
        self.pending: dict[str, tuple[str, str]] = {}
        """Requests sent from this screen and not finished yet: id to what they do and the
        toast key of their event."""
        self._said_unwritable = ""
        self._requests: StoreReader | None = None
        """A connection of this window's own, for writing request rows (opened on the first)."""

    def on_mount(self) -> None:
        if self.autostart_supervisor:
            self._ensure_supervisor()

    @on(SupervisionChecked)
    def _restart_if_gone(self, message: SupervisionChecked) -> None:
        """Runs are active but no supervisor holds the lock (it crashed): start one (in a
        thread: it probes the lock and starts a process), and say so."""
        if message.enforced or not self.autostart_supervisor:
            return
        self.run_worker(
            self._restart_supervisor, thread=True, group="supervisor-start", exclusive=True,
            exit_on_error=False,
        )  # fmt: skip

    def _restart_supervisor(self) -> None:
        if self._ensure_supervisor():
            self.app.call_from_thread(
                self.notify,
                "the supervisor was gone while runs are active: started a new one",
                severity="warning",
            )

    def _ensure_supervisor(self) -> bool:
        """Start a supervisor if none runs; a project that became unwritable is said, once
        (from the UI thread or a worker's)."""
        from cockpit.ui.client import ensure_supervisor

        try:
            return ensure_supervisor(self.view.paths)
        except StoreError as exc:
            if str(exc) != self._said_unwritable:
                self._said_unwritable = str(exc)
                say = partial(self.notify, str(exc), severity="error", timeout=30)
                try:
                    self.app.call_from_thread(say)
                except RuntimeError:  # on the app's own thread already
                    say()
            return False

    def send(self, command: Command, what: str) -> str | None:
        """Write the request row (on the event loop: a user's action, one small write) and
        have the feed watch for its outcome."""
        from cockpit.store.reader import StoreReader
        from cockpit.ui.client import client_name

        try:
            if self._requests is None:
                self._requests = StoreReader(self.view.paths.db)
            request_id = self._requests.submit_request(command, client_name("ui"))
        except (StoreError, sqlite3.Error) as exc:
            self.notify(f"cannot write the request: {exc}", severity="error")
            return None
        kind = command.KIND
        if self.autostart_supervisor:
            self._ensure_supervisor()
        # A stop's outcome is the run's state change, which the status line announces under
        # the run's key: one toast, "requested" then "stopped".
        event = f"run:{command.run_id}" if isinstance(command, StopRequest) else request_id
        self.post_message(RequestSent(kind, request_id, what, event))
        return request_id

    @on(RequestSent)
    def _request_sent(self, message: RequestSent) -> None:
        self.pending[message.request_id] = (message.what, message.event)
        self.view.feed.want(self.view.feed.shown, frozenset(self.pending))
        say(self, f"{message.what}: requested", key=message.event)

    def _confirm_dirty(self, then: Callable[[bool], object]) -> None:
        """Pre-flight's first step, asked here: launch from a dirty tree only on a yes. `git
        status` runs in a thread: a big repository must not freeze the screen."""
        from cockpit.core.git_tree import dirty_files

        project, plans = self.view.project, self.view.config.plans

        def look() -> None:
            files = dirty_files(project, plans)
            self.app.call_from_thread(self._ask_if_dirty, files, then)

        self.run_worker(look, thread=True, group="git-status", exit_on_error=False)

    def _ask_if_dirty(self, files: list[str] | None, then: Callable[[bool], object]) -> None:
        from cockpit.ui.screens.confirm import ConfirmScreen

        if not files:
            then(False)
            return
        listed = "\n".join(f"  {name}" for name in files[:8])
        more = f"\n  and {len(files) - 8} more" if len(files) > 8 else ""
        body = (
            f"Uncommitted changes:\n{listed}{more}\n"
            "The run will record HEAD, but run the files as they are on disk."
        )

        def answered(yes: bool | None) -> None:
            if yes:
                then(True)

        self.app.push_screen(
            ConfirmScreen("The git tree is dirty", body, "Launch anyway"), answered
        )

    def action_launch(self) -> None:
        listing = self.query_one(HypothesisList)
        keys = listing.marked or ((listing.selected_key,) if listing.selected_key else ())
        if not keys:
            self.notify("select a hypothesis first", severity="warning")
            return

        def send(dirty: bool) -> None:
            for key in keys:  # in the plan's order: the supervisor queues them in this order
                plan, _, hyp = key.rpartition(":")
                self.send(LaunchRequest(hyp, plan=plan, allow_dirty=dirty), f"launch {hyp}")
            listing.clear_marks()

        self._confirm_dirty(send)

    def action_mark(self) -> None:
        listing = self.query_one(HypothesisList)
        if listing.selected_key is None:
            self.notify("select a hypothesis first", severity="warning")
            return
        listing.toggle_mark(listing.selected_key)

    def action_stop(self) -> None:
        run = self.view.shown
        if run is None or not run.active:
            self.notify("no active run on screen to stop", severity="warning")
            return
        fresh = self.view.snapshot.about(run)
        reading = viewmodel.cost_reading(run, self.view.clock(), fresh.cost if fresh else None)
        assert reading is not None
        body = (
            f"Run {run.id} ({run.hypothesis}) on {run.backend} is {run.state}.\n"
            f"Cost so far: {format_dollars(reading.cost_so_far)} "
            f"at ${reading.rate_per_hour:.2f}/h.\n"
            "It will be stopped and terminated; its logs are kept."
        )
        from cockpit.ui.screens.confirm import ConfirmScreen

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.send(StopRequest(run.id), f"stop {run.id}")

        self.app.push_screen(
            ConfirmScreen(f"Stop + terminate {run.id}?", body, "Stop + terminate"), confirmed
        )

    def action_loop(self) -> None:
        """Start the loop of the selected hypothesis's plan, or stop the one running there."""
        from cockpit.ui.screens.loop_dialogs import LoopDialogs

        key = self.query_one(HypothesisList).selected_key
        if key is None:
            self.notify("select a hypothesis of the plan to loop over", severity="warning")
            return
        LoopDialogs(self).toggle(key.rpartition(":")[0])

    def action_relaunch(self) -> None:
        """Relaunch at the current HEAD, through pre-flight; a capped run asks for a raise."""
        run = self.view.shown
        if run is None:
            self.notify("no run on screen to relaunch", severity="warning")
            return

        def send(dirty: bool) -> None:
            command = RelaunchRequest(run.id, allow_dirty=dirty)
            self.send(command, f"relaunch {run.hypothesis}")

        if run.state != RunState.CAP_EXCEEDED:
            self._confirm_dirty(send)
            return
        from cockpit.ui.screens.raise_cap import RaiseCapScreen

        def raised(cap: float | None) -> None:
            if cap is None:
                self.notify("cap kept; not relaunched")
                return
            command = RaiseCapRequest(run.plan, cap, hypothesis=run.hypothesis)
            self.send(command, f"raise the cap of {run.hypothesis}")
            self._confirm_dirty(send)

        self.app.push_screen(
            RaiseCapScreen(f"{run.id} ({run.hypothesis})", run.cap or 0.0, run.cost_so_far),
            raised,
        )

    def requests_ended(self, ended: dict[str, tuple[Request, RunRecord | None]]) -> None:
        """The feed read that requests sent from here ended: one `RequestFinished` each."""
        for request_id, (request, run) in ended.items():
            sent = self.pending.pop(request_id, None)
            if sent is not None:  # (a later snapshot may carry it too: said once)
                self.post_message(RequestFinished(request, run, *sent))
        if ended:
            self.view.feed.want(self.view.feed.shown, frozenset(self.pending))

    @on(RequestFinished)
    def _request_finished(self, message: RequestFinished) -> None:
        """Say how it ended; a launch puts the cursor on the run it made."""
        request, run, what = message.request, message.run, message.what
        if request.status != RequestStatus.DONE:
            say(self, f"{what}: {request.status}: {request.result}", key=message.event,
                severity="error", timeout=10)  # fmt: skip
            return
        if request.kind != "stop":  # (a stop's outcome is the run's state change, said)
            say(self, f"{what}: {request.result}", key=message.event)
        if run is not None and request.kind in ("launch", "relaunch"):
            self.query_one(HypothesisList).select_key(f"{run.plan}:{run.hypothesis}")

    def on_unmount(self) -> None:
        if self._requests is not None:
            self._requests.close()
