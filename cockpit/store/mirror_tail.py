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


def window_around(
    path: Path, line_no: int, before: int = 300, after: int = 300
) -> tuple[int, list[str]]:
    """Lines `line_no - before` to `line_no + after` (1-based) of a mirror, read as a stream;
    returns the number of the first line given and the lines."""
    first = max(1, line_no - before)
    lines: list[str] = []
    splitter = LineSplitter()
    number = 0
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(READ_CAP):
                for line in splitter.feed(chunk):
                    number += 1
                    if number >= first:
                        lines.append(line)
                    if number >= line_no + after:
                        return first, lines
            for line in splitter.flush():
                number += 1
                if number >= first:
                    lines.append(line)
    except FileNotFoundError:
        return first, []
    return first, lines


WINDOW_SPAN = 1024 * 1024
"""How far before and after a line `window_at` reads: 300 lines of up to ~3 KB each."""


def window_at(
    path: Path, offset: int, line_no: int, before: int = 300, after: int = 300
) -> tuple[int, list[str]]:
    """The same window as `window_around`, for a line whose start (`offset`) is known: two
    bounded reads around it, whatever the size of the file."""
    start = max(0, offset - WINDOW_SPAN)
    try:
        with open(path, "rb") as handle:
            handle.seek(start)
            data = handle.read(offset - start + WINDOW_SPAN)
    except FileNotFoundError:
        return line_no, []
    head, tail = data[: offset - start], data[offset - start :]
    if start > 0:  # the first line read is a partial one: drop it
        cut = head.find(b"\n")
        head = head[cut + 1 :] if cut >= 0 else b""
    earlier = LineSplitter().feed(head)[-before:] if before else []
    splitter = LineSplitter()
    later = splitter.feed(tail)
    if len(tail) < WINDOW_SPAN:  # the file's end: its last line may have no newline
        later += splitter.flush()
    return line_no - len(earlier), earlier + later[: after + 1]
