"""Reading helpers the tests share and the product does not need: all lines of a byte string,
and how many metric samples the store holds for a run."""

from __future__ import annotations

from collections.abc import Iterator

from cockpit.core.logparse import LineSplitter
from cockpit.store.reader import StoreReader


def iter_lines(data: bytes) -> Iterator[str]:
    """Every line of `data`, split as the log pumps split them (\\r redraws, cut long lines)."""
    splitter = LineSplitter()
    yield from splitter.feed(data)
    yield from splitter.flush()


def metric_count(reader: StoreReader, run_id: str) -> int:
    """How many metric samples the store holds for `run_id`."""
    row = reader.conn.execute(
        "SELECT COALESCE(SUM(n), 0) FROM metric_blocks WHERE run_id = ?", (run_id,)
    ).fetchone()
    return int(row[0])
