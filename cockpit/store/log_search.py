"""Searching a whole mirrored log at the speed of `re` on bytes: the file is read in large
chunks cut at line ends, never line by line and never whole.

A query is a regular expression (as in less and vim); one that does not compile is searched
as plain text, and `Search.note` says so. Smart case: case-insensitive unless the query has a
capital letter. Matching is per line: a match never spans two lines.

Used from a thread (the log feed's): nothing here is for the UI's event loop.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CHUNK = 8 * 1024 * 1024
"""Bytes searched at a time."""
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


def find(path: Path, search: Search, start: int, end: int, forward: bool = True) -> int | None:
    """The byte offset of the first match in [start, end) — the last one, going backward."""
    with open(path, "rb") as handle:
        chunks = _forward(handle, start, end) if forward else _backward(handle, start, end)
        for offset, data in chunks:
            at = _first(search, data) if forward else _last(search, data)
            if at >= 0:
                return offset + at
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
