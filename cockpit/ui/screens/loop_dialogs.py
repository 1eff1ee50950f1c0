"""Starting and stopping the loop of the selected plan from the interactive cockpit.

The Controls hand the conversation to a `LoopDialogs` (given the Controls, which send the
request rows): the start confirmation shows the maximum, the cadence and the plan's cap; a stop
with a run in flight asks whether to let it finish or stop and terminate it. Watch mode has no
Controls, so it has none of this (the status line shows the loop either way).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cockpit.core.loop_rules import describe_loop
from cockpit.core.protocol import LoopRunMode, LoopStartRequest, LoopStopRequest
from cockpit.core.records import LoopRecord
from cockpit.ui.screens.confirm import ConfirmScreen

if TYPE_CHECKING:
    from cockpit.ui.screens.control import Controls


class LoopDialogs:
    def __init__(self, controls: Controls) -> None:
        self.controls = controls

    def toggle(self, plan: str) -> None:
        """Ask to start the loop of `plan`, or to stop the one that runs."""
        view = self.controls.view
        running = next(
            (loop for loop in view.snapshot.loops if loop.active and loop.plan == plan), None
        )
        if running is None:
            self._ask_start(plan)
        else:
            self._ask_stop(running)

    def _ask_start(self, plan: str) -> None:
        view = self.controls.view
        config = view.config
        cap = view.enforced.get("cost", {}).get("plan_cap", config.cost.plan_cap)
        max_ticks = config.loop.ui_max_ticks
        body = (
            f"Run {plan}'s open hypotheses one after another, in list order, with every window "
            f"closed if need be.\n{describe_loop(max_ticks, None, cap)}\n"
            f"It stops when the list is consumed, at the maximum, after "
            f"{config.loop.pause_after_rejections} rejected verdicts in a row (paused), when "
            "the plan is set to paused or stopped, or at the plan's cap."
        )

        def answered(yes: bool | None) -> None:
            if yes:
                command = LoopStartRequest(plan, max_ticks)
                self.controls.send(command, f"start the loop of {plan}")

        view.app.push_screen(ConfirmScreen(f"Loop over {plan}?", body, "Start the loop"), answered)

    def _ask_stop(self, loop: LoopRecord) -> None:
        view = self.controls.view
        in_flight = [run for run in view.runs if run.loop_id == loop.id and run.active]
        ticks = f"tick {loop.ticks}/{loop.max_ticks or '∞'}"
        if not in_flight:
            body = f"{loop.id} on {loop.plan} ({ticks}) starts no further run."

            def stop(yes: bool | None) -> None:
                if yes:
                    self._send_stop(loop, LoopRunMode.FINISH)

            view.app.push_screen(ConfirmScreen("Stop the loop?", body, "Stop the loop"), stop)
            return
        names = ", ".join(f"{run.id} ({run.hypothesis})" for run in in_flight)
        body = f"{loop.id} on {loop.plan} ({ticks}) starts no further run."
        how_body = (
            f"A run of the loop is in flight: {names}.\n"
            "y: stop and terminate it now.  n or Esc: let it finish and be written back."
        )

        def how(stop_run: bool | None) -> None:
            self._send_stop(loop, LoopRunMode.STOP if stop_run else LoopRunMode.FINISH)

        def then_ask(yes: bool | None) -> None:
            if yes:
                question = ConfirmScreen("The run in flight?", how_body, "Stop + terminate it")
                view.app.push_screen(question, how)

        view.app.push_screen(ConfirmScreen("Stop the loop?", body, "Stop the loop"), then_ask)

    def _send_stop(self, loop: LoopRecord, mode: LoopRunMode) -> None:
        self.controls.send(LoopStopRequest(loop.plan, mode), f"stop the loop of {loop.plan}")
