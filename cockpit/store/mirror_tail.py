"""Tailing a mirror file for a UI: from a byte offset, in capped reads, whole lines only."""

from __future__ import annotations

import os
from pathlib import Path

from cockpit.core.logparse import LineSplitter

READ_CAP = 1024 * 1024


class MirrorTail:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.skipped = 0
        """Bytes the last `read_new` passed over to catch up (0 when it read everything)."""
        self._splitter = LineSplitter()

    def backlog(self, max_lines: int, max_bytes: int = 4 * 1024 * 1024) -> list[str]:
        """The file's last lines (at most `max_lines`), leaving the offset at its end."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return []
        start = max(0, size - max_bytes)
        with open(self.path, "rb") as handle:
            handle.seek(start)
            data = handle.read(size - start)
        if start > 0:
            data = data[data.find(b"\n") + 1 :]
        self.offset = size
        self._splitter = LineSplitter()
        lines = self._splitter.feed(data)
        return lines[-max_lines:]

    def read_new(self, cap: int = READ_CAP, skip_behind: int | None = None) -> list[str]:
        """Complete lines appended since the last call (at most `cap` bytes read).

        With `skip_behind`, a reader more than that many bytes behind jumps to the last `cap`
        bytes instead of crawling through lines a bounded pane would drop at once anyway;
        `skipped` then says how many bytes it passed over (0 otherwise)."""
        self.skipped = 0
        try:
            size = os.stat(self.path).st_size
        except FileNotFoundError:
            return []
        if size < self.offset:  # truncated or replaced: start over
            self.offset = 0
            self._splitter = LineSplitter()
        if size == self.offset:
            return []
        start = self.offset
        if skip_behind is not None and size - start > max(skip_behind, cap):
            start = size - cap
        with open(self.path, "rb") as handle:
            handle.seek(start)
            data = handle.read(min(cap, size - start))
        if start != self.offset:
            cut = data.find(b"\n") + 1  # resume at a line start: the partial line is skipped
            self.skipped = start + cut - self.offset
            self.offset = start + cut
            self._splitter = LineSplitter()
            data = data[cut:]
        self.offset += len(data)
        return self._splitter.feed(data)
