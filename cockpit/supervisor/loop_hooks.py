"""The loop's agent hooks (`[loop] plan_command`, `analysis_command`): run in the project with
the loop's placeholders, bounded by `hook_timeout_seconds`, their output kept per hook in
`.cockpit/loops/<loop>/<kind>-<iter>.log` (and the plan hook's opens its run's onstart log)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

from cockpit.core.plan import Hypothesis
from cockpit.core.records import LoopRecord, RunRecord
from cockpit.supervisor.context import Context

PREAMBLE_BYTES = 64 * 1024
"""The most of a plan hook's output put at the start of its run's onstart log."""


def hook_log(state: Path, loop_id: str, kind: str, iteration: int) -> Path:
    """Where a hook's output goes: `.cockpit/loops/<loop>/<kind>-<iter>.log`."""
    return state / "loops" / loop_id / f"{kind}-{iteration}.log"


class Hooks:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def analysis(
        self, loop: LoopRecord, template: str, iteration: int, run: RunRecord
    ) -> None:
        """After a tick's write-back (a task beside the poll; a failure is an event)."""
        await self.run(loop, template, iteration, "analysis", run)

    def plan_output(self, loop: LoopRecord, iteration: int) -> str | None:
        """The end of the plan hook's output, for its run's onstart log."""
        try:
            said = hook_log(self.ctx.paths.state, loop.id, "plan", iteration).read_bytes()
        except OSError:
            return None
        return said[-PREAMBLE_BYTES:].decode("utf-8", "replace")

    async def run(
        self,
        loop: LoopRecord,
        template: str,
        iteration: int,
        kind: str,
        run: RunRecord | None,
        hypothesis: Hypothesis | None = None,
    ) -> str | None:
        """Run a hook in the project; None when it exited 0, else what went wrong. Its output
        goes to `.cockpit/loops/<loop>/<kind>-<iter>.log`."""
        ctx = self.ctx
        command = template.format(
            plan=loop.plan, iter=iteration, hypothesis=hypothesis.id if hypothesis else
            (run.hypothesis if run else ""), run_id=run.id if run else "",
            commit=run.commit if run else "", run_dir=str(ctx.paths.mirror(run.id)) if run else "",
        )  # fmt: skip
        logfile = hook_log(ctx.paths.state, loop.id, kind, iteration)
        logfile.parent.mkdir(parents=True, exist_ok=True)
        with open(logfile, "ab") as out:
            out.write(f"--- {kind} hook, tick {iteration}: {command}\n".encode())
            out.flush()
            env = {**os.environ, "COCKPIT_LOOP": loop.id, "COCKPIT_ITER": str(iteration)}
            process = await asyncio.create_subprocess_shell(
                command, cwd=ctx.project, stdout=out, stderr=out, env=env,
                start_new_session=True,
            )  # fmt: skip
            timeout = ctx.config.loop.hook_timeout_seconds
            try:
                code = await asyncio.wait_for(process.wait(), timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, 9)
                await process.wait()
                return f"timed out after {timeout:g} s (see {logfile.relative_to(ctx.project)})"
        if code != 0:
            said = f"exited {code} (see {logfile.relative_to(ctx.project)})"
            if kind == "analysis":
                ctx.store.add_event(run.id if run else None, "loop", f"analysis hook {said}")
            return said
        return None
