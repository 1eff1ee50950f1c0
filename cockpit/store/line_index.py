"""Reading any line of a mirrored log by number, without loading the file: a sparse index of
line starts, built incrementally as the file grows.

The index keeps one checkpoint per `BLOCK` bytes — the number and byte offset of the first
line that starts at or after each block boundary — so a 500 MB log costs ~8000 checkpoints
(~128 KB), and reading line N is a seek to the checkpoint before it and a scan of at most one
block. Lines are decoded for display: invalid UTF-8 replaced, a `\\r\\n` ending dropped, a
carriage-return progress line shown as its last state (as a terminal shows it), and a line
longer than `MAX_LINE_BYTES` cut with a marker (a 20 MB line never reaches the screen whole).

Used from a thread (the log feed's): nothing here is for the UI's event loop.
"""

from __future__ import annotations

import os
import time
from array import array
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

BLOCK = 64 * 1024
"""Bytes between two checkpoints."""
SCAN_CHUNK = 4 * 1024 * 1024
"""Bytes read at a time while indexing (line counting runs at memory speed: `bytes.count`)."""
MAX_LINE_BYTES = 16 * 1024
"""A displayed line keeps at most this many bytes; the rest is skipped, and the line says so."""


@dataclass(frozen=True)
class IndexState:
    lines: int
    """Lines in the file as indexed (a last line without its newline counts)."""
    size: int
    """Bytes indexed."""
    reset: bool = False
    """The file was replaced or truncated since the last update: everything was read afresh."""


def display(raw: bytes, cut: int = 0) -> str:
    """A line of the file as the pane shows it (`cut`: bytes of it that were not read)."""
    text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
    if "\r" in text:  # a progress bar redrawn in place: its last state
        text = text.rstrip("\r").rsplit("\r", 1)[-1]
    if cut:
        text += f" … [line cut: {cut:,} more bytes]"
    return text


class LineIndex:
    """The sparse index of one file. `update()` reads what was appended since the last call
    (or everything again, when the file was truncated or replaced)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lines = array("q", [0])
        """Checkpoints: line numbers (0-based)…"""
        self._offsets = array("q", [0])
        """…and the byte offsets where those lines start."""
        self._newlines = 0
        self._size = 0
        self._tail_partial = False
        self._identity: tuple[int, int] | None = None
        self._head = b""
        """The file's first bytes as indexed: a file replaced by one as long is still seen."""

    @property
    def lines(self) -> int:
        return self._newlines + (1 if self._tail_partial else 0)

    @property
    def size(self) -> int:
        return self._size

    @property
    def checkpoints(self) -> int:
        return len(self._lines)

    def _reset(self) -> None:
        self._lines, self._offsets = array("q", [0]), array("q", [0])
        self._newlines, self._size, self._tail_partial = 0, 0, False
        self._head = b""

    def update(self, limit: int | None = None) -> IndexState:
        """Index what the file gained; `limit`: at most that many bytes this call (a worker
        indexing a huge file reports progress between calls)."""
        try:
            with open(self.path, "rb") as handle:
                st = os.fstat(handle.fileno())
                identity = (st.st_dev, st.st_ino)
                reset = self._replaced(handle, st.st_size, identity)
                if reset:
                    self._reset()
                self._identity = identity
                self._scan(
                    handle, st.st_size if limit is None else min(st.st_size, self._size + limit)
                )
                return IndexState(self.lines, self._size, reset)
        except FileNotFoundError:
            reset = self._size > 0
            self._reset()
            return IndexState(0, 0, reset)

    def _replaced(self, handle: BinaryIO, size: int, identity: tuple[int, int]) -> bool:
        if self._size == 0:
            return False
        if identity != self._identity or size < self._size:
            return True
        head = handle.read(len(self._head))
        return head != self._head

    def _scan(self, handle: BinaryIO, end: int) -> None:
        handle.seek(self._size)
        next_block = (self._size // BLOCK + 1) * BLOCK
        while self._size < end:
            chunk = handle.read(min(SCAN_CHUNK, end - self._size))
            if not chunk:
                break
            start = self._size
            if start == 0:
                self._head = chunk[:64]
            position = 0
            # One checkpoint per block boundary crossed: the first line start after it.
            while next_block < start + len(chunk):
                newline = chunk.find(b"\n", max(position, next_block - start))
                if newline < 0:
                    break
                self._newlines += chunk.count(b"\n", position, newline + 1)
                position = newline + 1
                if start + position > self._offsets[-1]:
                    self._lines.append(self._newlines)
                    self._offsets.append(start + position)
                next_block = ((start + position) // BLOCK + 1) * BLOCK
            self._newlines += chunk.count(b"\n", position)
            self._size = start + len(chunk)
            self._tail_partial = not chunk.endswith(b"\n")
            time.sleep(0)  # another thread's turn (see `log_search.yield_gil`)

    def locate(self, line: int) -> tuple[int, int]:
        """(line number, byte offset) of the checkpoint at or before `line`."""
        at = bisect_right(self._lines, line) - 1
        return self._lines[at], self._offsets[at]

    def read(self, first: int, count: int) -> list[str]:
        """Lines `first` … `first + count - 1` (0-based) as displayed; fewer at the end."""
        first = max(0, first)
        count = max(0, min(count, self.lines - first))
        if count == 0:
            return []
        with open(self.path, "rb") as handle:
            return self._read_from(handle, first, count)

    def read_each(self, numbers: Iterable[int]) -> list[str]:
        """The lines with these numbers (ascending), through one open of the file."""
        with open(self.path, "rb") as handle:
            return [
                (self._read_from(handle, n, 1) or [""])[0] if 0 <= n < self.lines else ""
                for n in numbers
            ]

    def _read_from(self, handle: BinaryIO, first: int, count: int) -> list[str]:
        line, offset = self.locate(first)
        handle.seek(offset)
        out: list[str] = []
        while line < first + count and handle.tell() < self._size:
            raw, cut = _read_line(handle, self._size)
            if line >= first:
                out.append(display(raw, cut))
            line += 1
        return out

    def offset_of(self, line: int) -> int:
        """The byte offset where `line` starts (a scan of one block at most)."""
        at, offset = self.locate(line)
        with open(self.path, "rb") as handle:
            handle.seek(offset)
            while at < line:
                _read_line(handle, self._size)
                at += 1
            return handle.tell()

    def line_at(self, offset: int) -> int:
        """The number of the line holding byte `offset`."""
        at = bisect_right(self._offsets, offset) - 1
        line, start = self._lines[at], self._offsets[at]
        with open(self.path, "rb") as handle:
            handle.seek(start)
            return line + handle.read(offset - start).count(b"\n")


AROUND_SPAN = 1024 * 1024
"""How far before a known line start `lines_around` reads for the lines above it."""


def lines_around(path: Path, offset: int, before: int, after: int) -> tuple[int, list[str]]:
    """The lines around the one starting at byte `offset`, as `LineIndex.read` shows them,
    read with two bounded reads whatever the file's size (no index needed): up to `before`
    lines above it and `after` below it. Returns how many of the lines come before it."""
    start = max(0, offset - AROUND_SPAN)
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            handle.seek(start)
            head = handle.read(max(0, min(offset, size) - start))
            if start > 0:  # the first line read is a partial one: drop it
                cut = head.find(b"\n")
                head = head[cut + 1 :] if cut >= 0 else b""
            earlier = [_shown(raw) for raw in head.split(b"\n")[:-1][-before:]] if before else []
            later: list[str] = []
            while len(later) <= after and handle.tell() < size:
                raw, cut = _read_line(handle, size)
                later.append(display(raw, cut))
    except FileNotFoundError:
        return 0, []
    return len(earlier), earlier + later


def _shown(raw: bytes) -> str:
    cut = max(0, len(raw) - MAX_LINE_BYTES)
    return display(raw[:MAX_LINE_BYTES], cut)


def _read_line(handle: BinaryIO, limit: int) -> tuple[bytes, int]:
    """One line: its first `MAX_LINE_BYTES` and how many more bytes it had (skipped, never
    held in memory)."""
    raw = handle.readline(MAX_LINE_BYTES)
    if raw.endswith(b"\n") or len(raw) < MAX_LINE_BYTES:
        return raw, 0
    skipped = 0
    while True:
        more = handle.readline(SCAN_CHUNK)
        if not more:
            return raw, skipped
        skipped += len(more)
        if more.endswith(b"\n"):
            return raw, skipped - 1
