"""Searching a whole mirrored log at the speed of `re` on bytes: the file is read in large
chunks cut at line ends, never line by line and never whole.

A query is a regular expression (as in less and vim); one that does not compile is searched
as plain text, and `Search.note` says so. Smart case: case-insensitive unless the query has a
capital letter. Matching is per line: a match never spans two lines.

`FilterScan` keeps the matching line numbers of one log for the filter (&), found incrementally
as the file grows. Used from a thread (the browse feed's): nothing here is for the event loop.
"""

from __future__ import annotations

import mmap
import os
import re
import time
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cockpit.store.line_index import LineIndex

CHUNK = 1024 * 1024
"""Bytes searched at a time: `re` holds the GIL while it searches a chunk, and the UI's
thread waits that long for its turn (8 MB with IGNORECASE held it ~50 ms)."""
MAPPED_STEP = 16 * 1024 * 1024
"""Bytes of the mapped file searched per `find` call (~4 ms each) for the same reason."""
REGEX_CHARS = frozenset(".^$*+?{}[]\\|()")


@dataclass(frozen=True)
class Search:
    query: str
    pattern: re.Pattern[bytes]
    """What the file is searched with."""
    text_pattern: re.Pattern[str]
    """The same, for a displayed line (to highlight the match)."""
    note: str = ""
    """Said beside the results: `searched as text (not a regex: …)`."""
    literal: bytes | None = None
    """The query as bytes when it has nothing of a regex (lower-cased when case is folded):
    found with `bytes.find`, several times faster than `re` with IGNORECASE."""
    fold: bool = False


def compile_query(query: str) -> Search:
    fold = not any(ch.isupper() for ch in query)
    flags = re.IGNORECASE if fold else 0
    note = ""
    try:
        text = re.compile(query, flags)
        raw = re.compile(query.encode("utf-8"), flags)
    except re.error as exc:
        note = f"searched as text (not a regex: {exc})"
        text = re.compile(re.escape(query), flags)
        raw = re.compile(re.escape(query.encode("utf-8")), flags)
    plain = not any(ch in REGEX_CHARS for ch in query) or bool(note)
    literal = (query.lower() if fold else query).encode("utf-8") if plain and query else None
    if literal is not None and fold and not query.isascii():
        literal = None  # bytes.lower folds ASCII only
    return Search(query, raw, text, note, literal, fold)


def _first(search: Search, data: bytes) -> int:
    if search.literal is not None:
        return (data.lower() if search.fold else data).find(search.literal)
    found = search.pattern.search(data)
    return found.start() if found is not None else -1


def _last(search: Search, data: bytes) -> int:
    if search.literal is not None:
        return (data.lower() if search.fold else data).rfind(search.literal)
    last = -1
    for found in search.pattern.finditer(data):
        last = found.start()
    return last


def yield_gil() -> None:
    """Let another thread run: a scan of hundreds of megabytes is a CPU-bound thread, and
    without this the UI's thread (which gives the GIL up at every select) waits a switch
    interval for it each time — a convoy that made a search's result show a second late."""
    time.sleep(0)


def matches_line(search: Search, line: str) -> bool:
    return search.text_pattern.search(line) is not None


def _forward(handle: BinaryIO, start: int, end: int) -> Iterator[tuple[int, bytes]]:
    """(offset, bytes) from `start` to `end`, each chunk cut after its last newline."""
    offset = start
    handle.seek(offset)
    carry = b""
    while offset + len(carry) < end:
        data = carry + handle.read(min(CHUNK, end - offset - len(carry)))
        if len(data) == len(carry):
            break
        cut = data.rfind(b"\n") + 1
        if cut == 0 or offset + len(data) >= end:
            cut = len(data)
        yield offset, data[:cut]
        offset += cut
        carry = data[cut:]
        yield_gil()


def _backward(handle: BinaryIO, start: int, end: int) -> Iterator[tuple[int, bytes]]:
    """(offset, bytes) from `end` back to `start`, each chunk beginning at a line start."""
    while end > start:
        begin = max(start, end - CHUNK)
        handle.seek(begin)
        data = handle.read(end - begin)
        if begin > start:
            first = data.find(b"\n") + 1
            if 0 < first < len(data):
                data, begin = data[first:], begin + first
        yield begin, data
        end = begin
        yield_gil()


def find(path: Path, search: Search, start: int, end: int, forward: bool = True) -> int | None:
    """The byte offset of the first match in [start, end) — the last one, going backward."""
    if search.literal is not None and not search.fold and start < end:
        # Exact text: found in the mapped file itself, no chunk copied (the common case of a
        # pasted error message): ~70 ms for 250 MB, against ~350 ms read in chunks.
        with open(path, "rb") as handle:
            end = min(end, os.fstat(handle.fileno()).st_size)
            return _find_mapped(handle.fileno(), search.literal, start, end, forward)
    with open(path, "rb") as handle:
        chunks = _forward(handle, start, end) if forward else _backward(handle, start, end)
        for offset, data in chunks:
            at = _first(search, data) if forward else _last(search, data)
            if at >= 0:
                return offset + at
    return None


def _find_mapped(fd: int, literal: bytes, start: int, end: int, forward: bool) -> int | None:
    """`literal` in [start, end) of the file, mapped `MAPPED_STEP` bytes at a time (a window
    is unmapped before the next: the pages read never add up in the process's memory; the
    windows overlap by the literal's length, so a match across two is found)."""
    overlap = len(literal) - 1
    steps = range(start, end, MAPPED_STEP)
    for at in steps if forward else reversed(steps):
        base = at - at % mmap.ALLOCATIONGRANULARITY
        stop = min(end, at + MAPPED_STEP + overlap)
        if stop <= at:
            continue
        with mmap.mmap(fd, stop - base, access=mmap.ACCESS_READ, offset=base) as window:
            look = window.find if forward else window.rfind
            found = look(literal, at - base, stop - base)
        if found >= 0:
            return base + found
        yield_gil()
    return None


def scan_matches(
    path: Path, search: Search, start: int, end: int, first_line: int,
    progress: Callable[[int], object] = lambda _: None,
) -> tuple[list[int], int, int]:  # fmt: skip
    """The numbers (0-based) of the lines with a match among the complete lines in
    [`start`, `end`) — `start` a line start, numbered `first_line` — and where the scan
    stopped: (matching lines, the offset after the last complete line, its line number).
    A last line without its newline yet is left for the next scan. `progress(offset)` after
    each chunk (it may raise to stop the scan)."""
    found: list[int] = []
    line, stop = first_line, start
    with open(path, "rb") as handle:
        for offset, data in _forward(handle, start, end):
            complete = data.rfind(b"\n") + 1
            if complete < len(data):  # the tail of the file, mid-line: not yet
                data = data[:complete]
            previous = 0
            last_line = -1
            for found_at in search.pattern.finditer(data):
                line += data.count(b"\n", previous, found_at.start())
                previous = found_at.start()
                if line != last_line:
                    last_line = line
                    found.append(line)
            line += data.count(b"\n", previous)
            stop = offset + len(data)
            progress(stop)
            if complete == 0:
                break
    return found, stop, line


def matching_lines(
    path: Path, search: Search, end: int, progress: Callable[[int], object] = lambda _: None
) -> Iterator[int]:
    """The numbers (0-based) of the lines with a match, in order, up to byte `end`;
    `progress(bytes read)` after each chunk."""
    found, stop, line = scan_matches(path, search, 0, end, 0, progress)
    yield from found
    if stop < end:  # a last line without its newline yet
        with open(path, "rb") as handle:
            handle.seek(stop)
            if search.pattern.search(handle.read(end - stop)):
                yield line


class FilterScan:
    """The lines of one log that match a filter, found incrementally as the file grows (its
    complete lines only: a line still being written is scanned once it ends)."""

    def __init__(self, path: Path, query: str) -> None:
        self.path, self.query = path, query
        self.search: Search = compile_query(query)
        self.rows = array("i")
        """Matching line numbers, in order: row k of the filtered view is line rows[k]."""
        self.stop = 0
        self.line = 0

    def advance(self, size: int, limit: int) -> bool:
        """Scan up to `limit` more bytes; True once every complete line is scanned."""
        end = min(size, self.stop + limit)
        found, self.stop, self.line = scan_matches(
            self.path, self.search, self.stop, end, self.line
        )
        self.rows.extend(found)
        return end >= size

    def read(self, index: LineIndex, first: int, count: int) -> list[str]:
        """Rows `first` … as shown: each line with its number in the file."""
        numbers = self.rows[first : first + count]
        lines = index.read_each(numbers)
        return [f"{n + 1:>9} │ {text}" for n, text in zip(numbers, lines, strict=True)]
