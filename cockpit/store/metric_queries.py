"""Reading the metric samples the supervisor stores in blocks (`metric_blocks`: one row per
key per ingested batch, its values and steps packed as float64 blobs, with the block's last,
min and max beside them): series for the panes, stats, the newest samples, NaN streaks.

`StoreReader.metrics` is one, on the reader's connection.
"""

from __future__ import annotations

import math
import sqlite3
from array import array
from collections.abc import Iterator

from cockpit.store.sqlite_file import unpack_floats


class MetricQueries:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def keys(self, run_id: str) -> list[str]:
        rows = self.conn.execute(
            "SELECT DISTINCT key FROM metric_blocks WHERE run_id = ?", (run_id,)
        ).fetchall()
        return [row[0] for row in rows]

    def _blocks_newest_first(self, run_id: str, key: str) -> Iterator[array[float]]:
        cursor = self.conn.execute(
            "SELECT vals FROM metric_blocks WHERE run_id = ? AND key = ? ORDER BY id DESC",
            (run_id, key),
        )
        try:
            for (blob,) in cursor:
                yield unpack_floats(blob)
        finally:
            cursor.close()

    def series(self, run_id: str, key: str, limit: int = 200) -> list[float]:
        """The newest `limit` values of `key`, oldest first (NaN left out, as it always was:
        SQLite stored it as NULL)."""
        found: list[float] = []
        for values in self._blocks_newest_first(run_id, key):
            found.extend(value for value in reversed(values) if value == value)
            if len(found) >= limit:
                break
        return found[:limit][::-1]

    def overview(
        self, run_id: str, key: str, points: int = 120
    ) -> tuple[list[float], tuple[float, float] | None]:
        """The whole run's `key` in at most `points` values (each the mean of its stretch of
        samples, oldest first), and the (first, last) step it covers — what a sparkline beside
        the run's min and max must draw. Past `OVERVIEW_READ` samples, each block's last value
        stands for its samples (the blocks' blobs are not all read)."""
        total = self.conn.execute(
            "SELECT SUM(n) FROM metric_blocks WHERE run_id = ? AND key = ?", (run_id, key)
        ).fetchone()[0]
        if not total:
            return [], None
        if total <= OVERVIEW_READ:
            cursor = self.conn.execute(
                "SELECT steps, vals FROM metric_blocks WHERE run_id = ? AND key = ? ORDER BY id",
                (run_id, key),
            )
            values: list[float] = []
            first = last = math.nan  # the steps of the first and last sample drawn
            for step_blob, blob in cursor:
                for step, value in zip(unpack_floats(step_blob), unpack_floats(blob), strict=True):
                    if math.isfinite(value):  # a NaN/inf sample has no height to draw
                        if not values:
                            first = step
                        values.append(value)
                        last = step
            ends = [first, last]
        else:
            rows = self.conn.execute(
                "SELECT last FROM metric_blocks WHERE run_id = ? AND key = ? AND last IS NOT NULL "
                "ORDER BY id",
                (run_id, key),
            ).fetchall()
            values = [row[0] for row in rows]
            ends = self._step_ends(run_id, key)
        known = [step for step in ends if step == step]
        return _buckets(values, points), (known[0], known[-1]) if len(known) == 2 else None

    def curve(self, run_id: str, key: str, points: int = 600) -> list[tuple[float, float]]:
        """(step, value) of `key` over the whole run, at most `points` of them (every k-th
        sample, the last always kept), for a chart; samples without a step or a finite value
        are left out."""
        pairs: list[tuple[float, float]] = []
        cursor = self.conn.execute(
            "SELECT steps, vals FROM metric_blocks WHERE run_id = ? AND key = ? ORDER BY id",
            (run_id, key),
        )
        for step_blob, blob in cursor:
            for step, value in zip(unpack_floats(step_blob), unpack_floats(blob), strict=True):
                if math.isfinite(step) and math.isfinite(value):
                    pairs.append((step, value))
        if len(pairs) <= points:
            return pairs
        stride = math.ceil(len(pairs) / points)
        return pairs[::stride] + ([pairs[-1]] if (len(pairs) - 1) % stride else [])

    def _step_ends(self, run_id: str, key: str) -> list[float]:
        ends = []
        for order in ("ASC", "DESC"):
            row = self.conn.execute(
                "SELECT steps FROM metric_blocks WHERE run_id = ? AND key = ? "
                f"ORDER BY id {order} LIMIT 1",
                (run_id, key),
            ).fetchone()
            found = unpack_floats(row[0]) if row else []
            ends += [found[0] if order == "ASC" else found[-1]] if found else []
        return ends

    def stats(self, run_id: str, key: str) -> tuple[float, float, float] | None:
        """(last, min, max) over the whole run, or None when there is no sample."""
        row = self.conn.execute(
            "SELECT MIN(lo), MAX(hi), "
            "(SELECT last FROM metric_blocks WHERE run_id = ?1 AND key = ?2 AND last IS NOT NULL "
            "ORDER BY id DESC LIMIT 1) FROM metric_blocks WHERE run_id = ?1 AND key = ?2",
            (run_id, key),
        ).fetchone()
        if row is None or row[2] is None:
            return None
        return row[2], row[0], row[1]

    def nan_streak(self, run_id: str, key: str, limit: int) -> int:
        """How many of the newest `limit` samples of `key` in a row are NaN or infinite."""
        streak = 0
        for values in self._blocks_newest_first(run_id, key):
            for value in reversed(values):
                if streak >= limit or math.isfinite(value):
                    return streak
                streak += 1
        return streak

    def version(self) -> int:
        """Grows with every batch of samples stored (any run's): unchanged, nothing new."""
        return int(
            self.conn.execute("SELECT COALESCE(MAX(id), 0) FROM metric_blocks").fetchone()[0]
        )

    def samples(self, run_id: str, key: str, limit: int = 2) -> list[tuple[float, float]]:
        """The newest (t, value) of a metric per ingested batch, oldest first: when the
        batch was parsed and its newest value (a slow trainer's batch is one line)."""
        rows = self.conn.execute(
            "SELECT t, last FROM (SELECT id, t, last FROM metric_blocks WHERE run_id = ? AND "
            "key = ? AND last IS NOT NULL ORDER BY id DESC LIMIT ?) ORDER BY id",
            (run_id, key, limit),
        ).fetchall()
        return [(row[0], row[1]) for row in rows]


OVERVIEW_READ = 200_000
"""Samples a sparkline's overview reads in full (1.6 MB of values); above, block summaries."""


def _buckets(values: list[float], points: int) -> list[float]:
    """`values` in at most `points` means of consecutive stretches (all of them: none left
    out at either end)."""
    if len(values) <= points:
        return values
    size = len(values) / points
    out = []
    for index in range(points):
        stretch = values[int(index * size) : int((index + 1) * size)] or values[-1:]
        out.append(math.fsum(stretch) / len(stretch))
    return out
