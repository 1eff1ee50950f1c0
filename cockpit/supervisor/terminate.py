"""Making sure an ended run bills nothing any more, for as long as that takes.

A run in wrap-up may still hold a billed resource: a pod whose terminate failed or was
acknowledged and ignored, or one a failed launch created without cockpit ever getting its
handle (the create answered an error after it went through). `Terminator.end` keeps at it with
capped backoff until the backend verifies nothing is left — while it fails the run carries the
`terminate-failed` warning and its cost keeps counting from what the backend reports — and only
then lets the wrap-up go on to write the result.
"""

from __future__ import annotations

import asyncio

from backends.base import Backend, Observation, RunHandle
from cockpit.core.protocol import RunState, RunWarning
from cockpit.core.records import RunRecord
from cockpit.supervisor.context import Context, describe, log

RETRY_MAX_S = 60.0
"""The longest pause between two tries to end what a run left billing."""
LEFTOVER_NOTE = "; making sure no pod was left"


def billed(run: RunRecord, obs: Observation, storage_s: float) -> float:
    """What the run has cost: never less than before (a stopped pod reports no uptime), plus
    the storage a stopped pod's volume billed over the `storage_s` seconds since last seen."""
    cost = max(obs.cost_per_hour * obs.uptime_s / 3600.0, run.cost_so_far)
    return cost + obs.storage_per_hour * max(0.0, storage_s) / 3600.0


class Terminator:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.first_delay_s = 1.0
        self._seen: dict[str, float] = {}
        """Run id: when its resource was last seen billing (for the storage in between)."""

    async def end(self, run: RunRecord) -> None:
        """Return once nothing of `run` runs or bills (verified by its backend)."""
        backend = self.ctx.backends.get(run.backend)
        if backend is None:
            return
        if run.handle is None:
            if backend.bills:
                await self._leftovers(run, backend)
            return
        if run.state == RunState.SUCCEEDED and not backend.bills:
            return  # it exited by itself and nothing of it bills
        handle = RunHandle.from_json(run.handle)
        delay, attempt = self.first_delay_s, 0
        while True:
            attempt += 1
            try:
                await backend.stop(handle, self.ctx.config.supervisor.stop_grace_seconds)
                break
            except Exception as exc:
                await self._failed(run, backend, handle, attempt, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)
        current = self.ctx.reader.run(run.id) or run
        if RunWarning.TERMINATE_FAILED in current.warnings:
            kept = tuple(w for w in current.warnings if w != RunWarning.TERMINATE_FAILED)
            self.ctx.store.update_run(run.id, warnings=kept)
            self.ctx.store.add_event(
                run.id, "terminated", f"{run.id}: terminated after {attempt} tries; billing ends"
            )

    async def _failed(
        self, run: RunRecord, backend: Backend, handle: RunHandle, attempt: int, exc: Exception
    ) -> None:
        """Say so (on attempts 1, 2, 4, 8, ...), show it on the run, keep its cost counting."""
        ctx = self.ctx
        log.warning("terminate of %s failed (attempt %d): %s", run.id, attempt, exc)
        if attempt & (attempt - 1) == 0:
            ctx.store.add_event(
                run.id, "alert",
                f"{run.id}: terminate failed (attempt {attempt}): {describe(exc)}; it may still "
                "bill: retrying",
            )  # fmt: skip
        current = ctx.reader.run(run.id) or run
        fields: dict[str, object] = {}
        if RunWarning.TERMINATE_FAILED not in current.warnings:
            fields["warnings"] = (*current.warnings, RunWarning.TERMINATE_FAILED)
        try:
            obs = (await backend.observe([handle])).get(run.id)
        except Exception:
            obs = None
        now = ctx.clock()
        if obs is not None:
            since = self._seen.get(run.id, now)
            self._seen[run.id] = now
            fields["uptime_s"] = max(obs.uptime_s, current.uptime_s)
            fields["cost_so_far"] = billed(current, obs, now - since)
        if fields:
            ctx.store.update_run(run.id, **fields)

    async def _leftovers(self, run: RunRecord, backend: Backend) -> None:
        """A launch that failed before it had a handle: look for what it may have created,
        end it, and say when that is verified."""
        ctx = self.ctx
        delay = self.first_delay_s
        while True:
            try:
                if await backend.end_leftovers(run.id):
                    break
                delay = self.first_delay_s  # it answered: look again soon
            except Exception as exc:  # it could not look: back off
                log.info("looking for what %s's launch left: %s", run.id, exc)
                delay = min(delay * 2, RETRY_MAX_S)
            await asyncio.sleep(delay)
        ended = getattr(backend, "leftovers_ended", {}).get(run.id, [])
        current = ctx.reader.run(run.id) or run
        found = f"; terminated pod {', '.join(ended)} it left" if ended else "; no pod was left"
        detail = current.detail.removesuffix(LEFTOVER_NOTE) + found
        ctx.store.update_run(run.id, detail=detail)
        ctx.store.add_event(run.id, "leftovers", f"{run.id}: launch failed{found}")
