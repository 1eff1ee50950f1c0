"""Watching the plan files: an edit on disk is read again in a thread and the screen told
(`PlansReloaded`), so the list is live without the event loop ever reading a file."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from textual.message import Message

from cockpit.core.planbook import PlanBook


class PlansReloaded(Message):
    """The plan files were read again (in a thread) after a change on disk: redraw the list."""


class PlanWatch:
    """The screen owns one and runs `run` in a worker once its first frame is out (the file
    watcher and the ~20 ms of imports it needs wait for it)."""

    def __init__(self, planbook: PlanBook, post: Callable[[Message], object]) -> None:
        self.planbook = planbook
        self.post = post
        self.armed = asyncio.Event()
        """Set once the watcher runs: edits from then on are seen (one made before it was
        armed is caught when it is)."""

    async def _reload(self) -> None:
        await asyncio.to_thread(self.planbook.reload)
        self.post(PlansReloaded())

    async def run(self) -> None:
        from watchfiles import awatch

        root, recursive = self.planbook.watch_roots()
        if not root.is_dir():
            return
        async for changes in awatch(
            root,
            recursive=recursive,
            debounce=100,
            # How often the watcher thread wakes (and takes the GIL): 20 times a second was a
            # third of an idle watch window's CPU; 4 keeps an edit on screen within ~0.4 s.
            step=250,
            yield_on_timeout=True,
            rust_timeout=1000,
        ):
            if not self.armed.is_set():
                if await asyncio.to_thread(self.planbook.edited_since_read):
                    await self._reload()
                self.armed.set()
            if changes and any(self.planbook.matches(path) for _, path in changes):
                await self._reload()
