"""Helpers for Pilot tests: record the app's messages and wait on them (never on a timer)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from textual.message import Message

M = TypeVar("M", bound=Message)


class MessageLog:
    """Pass `hook` as `run_test(message_hook=...)`; `await wait(Type, pred)` for a message."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._ids: set[int] = set()
        self._changed = asyncio.Event()

    def hook(self, message: Message) -> None:
        # A bubbling message reaches the hook once per node it visits: record it once.
        # (The list keeps every message alive, so an id is never reused while it is in it.)
        if id(message) not in self._ids:
            self._ids.add(id(message))
            self.messages.append(message)
        self._changed.set()

    def of(self, kind: type[M]) -> list[M]:
        return [m for m in self.messages if isinstance(m, kind)]

    async def wait(
        self, kind: type[M], predicate: Callable[[M], bool] = lambda _: True, timeout: float = 30
    ) -> M:
        seen = 0
        async with asyncio.timeout(timeout):
            while True:
                for message in self.messages[seen:]:
                    if isinstance(message, kind) and predicate(message):
                        return message
                seen = len(self.messages)
                self._changed.clear()
                await self._changed.wait()

    async def until(self, condition: Callable[[], object], timeout: float = 30) -> None:
        """Re-check `condition` after every message the app handles."""
        async with asyncio.timeout(timeout):
            while not condition():
                self._changed.clear()
                await self._changed.wait()


async def table_laid_out(pilot: object, table: object) -> None:
    """Wait until a DataTable has measured its new rows: it sizes its columns on its own idle
    event, so a screenshot taken right after rows were added can show header-wide columns."""
    from textual.pilot import Pilot
    from textual.widgets import DataTable

    assert isinstance(pilot, Pilot) and isinstance(table, DataTable)
    while table._require_update_dimensions or table._updated_cells:
        await pilot.pause()
    await pilot.pause()  # and the frame drawn with those widths
