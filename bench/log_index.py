"""Whole-log reading without loading the log: the sparse line index and the chunked search
that the log feed's thread uses (issue 18), on a mirror of LINES ~100-byte trainer lines
(default 5M, ~500 MB) with one unique line in its middle.

Measured, and beside each the baseline measured in the same run:
- indexing the whole file (count its lines, one checkpoint per 64 KiB) — baseline: reading it
  line by line in Python (`for line in file`, what a reader that keeps line starts does);
- reading 50 lines at the top, the middle and the tail by number (the pane's screenful);
- searching for the unique line from line 0 — baseline: `needle in line` over every line;
- the index's own size in memory.
The pane's end-to-end figures, side by side with toolong, are bench/log_browse.py's.

Usage: python bench/log_index.py [LINES]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cockpit.store.line_index import LineIndex
from cockpit.store.log_search import compile_query, find

NEEDLE = "NCCL WARN Call to ibv_reg_mr failed: the only one"


def write_log(path: Path, lines: int) -> int:
    """`lines` lines, the needle at the middle one; returns its number."""
    block = b"".join(
        (b'{"step": %d, "loss": 0.%06d, "lr": 0.0003, "samples_per_s": 181233}\n' % (i, i))
        if i % 2
        else (b"epoch 3 batch %d: forward pass done in 41.2 ms, tokens/s 181233 ok\n" % i)
        for i in range(10_000)
    )
    middle = lines // 2
    with open(path, "wb") as handle:
        written = 0
        while written + 10_000 <= middle:
            handle.write(block)
            written += 10_000
        rest = block.split(b"\n")
        for line in rest[: middle - written]:
            handle.write(line + b"\n")
        written = middle
        handle.write(NEEDLE.encode() + b"\n")
        written += 1
        while written + 10_000 <= lines:
            handle.write(block)
            written += 10_000
        for line in rest[: lines - written]:
            handle.write(line + b"\n")
    return middle


def timed(action, rounds: int = 3) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    lines = int(sys.argv[1]) if len(sys.argv) > 1 else 5_000_000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.log"
        middle = write_log(path, lines)
        size = path.stat().st_size
        print(f"log: {lines:,} lines, {size / 1e6:.0f} MB (in the page cache, as just written)")

        def index_all() -> LineIndex:
            index = LineIndex(path)
            index.update()
            return index

        index = index_all()
        assert index.lines == lines, (index.lines, lines)
        build = timed(index_all)

        def naive_lines() -> None:
            with open(path, "rb") as handle:
                for _ in handle:
                    pass

        naive = timed(naive_lines, 1)
        print(
            f"index the whole file:           {build * 1000:8.1f} ms   "
            f"(baseline, line by line: {naive * 1000:.0f} ms; ratio {naive / build:.1f}×)"
        )
        kib = (index._lines.itemsize * 2 * index.checkpoints) / 1024
        print(f"index size: {index.checkpoints:,} checkpoints, {kib:.0f} KiB")
        for name, first in (("top", 0), ("middle", middle - 25), ("tail", lines - 50)):
            read = timed(lambda first=first: index.read(first, 50), 5)
            assert len(index.read(first, 50)) == 50
            print(f"read 50 lines at the {name:<7}    {read * 1000:8.2f} ms")
        assert index.read(middle, 1) == [NEEDLE]
        search = compile_query("ibv_reg_mr")
        found: list[int | None] = []
        searched = timed(lambda: found.append(find(path, search, 0, index.size)))
        assert found[-1] is not None and index.line_at(found[-1]) == middle

        def naive_search() -> int:
            with open(path, encoding="utf-8", errors="replace") as handle:
                for number, line in enumerate(handle):
                    if "ibv_reg_mr" in line:
                        return number
            return -1

        slow = timed(naive_search, 1)
        print(
            f"search a line in the middle:    {searched * 1000:8.1f} ms   "
            f"(baseline, `in` per line: {slow * 1000:.0f} ms; ratio {slow / searched:.1f}×)"
        )


if __name__ == "__main__":
    main()
