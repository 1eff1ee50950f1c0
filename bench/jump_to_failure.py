"""Jump to the failure line (`j`) on a big mirror: what the log feed's thread does for it.

A mirror of SIZE bytes (default 1 GB of ~100-byte trainer lines, half JSON metrics) with the
failure line in its middle. Measured, median of ROUNDS each:
- cockpit: `lines_around`, seeking to the byte offset the supervisor stored with the anomaly and
  reading the 300 lines on each side (what the browse feed sends at once, before its line
  index reaches the line);
- baseline: the same window read through a line index built from byte 0 (what the browse
  view would wait for without the offset; the path for runs from before schema 7).
Target (issue 15, kept by issue 18): the window is ready within one frame (1/60 s) whatever the
log's size.

Usage: python bench/jump_to_failure.py [SIZE_MB [ROUNDS]]   (default 1024 MB, 5 rounds)
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cockpit.store.line_index import LineIndex, lines_around

FRAME_S = 1 / 60
FAILURE = b"RuntimeError: CUDA error: an illegal memory access was encountered"


def write_mirror(path: Path, size: int) -> tuple[int, int]:
    """~`size` bytes of lines with the failure line halfway; its (offset, line number)."""
    block = b"".join(
        (b'{"step": %d, "loss": 0.%06d, "lr": 0.0003}\n' % (i, i))
        if i % 2
        else (b"epoch 3 batch %d: forward pass done in 41.2 ms, tokens/s 181233\n" % i)
        for i in range(10_000)
    )
    lines_per_block = block.count(b"\n")
    half = max(1, size // len(block) // 2)
    with open(path, "wb") as handle:
        for _ in range(half):
            handle.write(block)
        offset = handle.tell()
        handle.write(FAILURE + b"\n")
        for _ in range(half):
            handle.write(block)
    return offset, half * lines_per_block + 1


def timed(call: object, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    size_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "train.log"
        offset, line_no = write_mirror(path, size_mb * 1024 * 1024)
        real = path.stat().st_size
        line = line_no - 1
        before, lines = lines_around(path, offset, 300, 300)
        assert lines[before].encode() == FAILURE, "the window misses the failure line"
        ours = timed(lambda: lines_around(path, offset, 300, 300), rounds)

        def indexed() -> list[str]:
            index = LineIndex(path)
            index.update()
            return index.read(line - before, len(lines))

        base = timed(indexed, max(1, rounds // 2))
        assert indexed() == lines
    print(f"mirror {real / 1e6:,.0f} MB, failure line {line_no:,} at byte {offset:,}")
    print(f"baseline  index from byte 0, then read        {base * 1000:9.1f} ms")
    verdict = "ok" if ours <= FRAME_S else f"MISSED (target <= {FRAME_S * 1000:.1f} ms)"
    print(f"cockpit   seek to the stored offset         {ours * 1000:9.2f} ms  {verdict}")
    print(f"ratio (baseline / cockpit)                 {base / ours:9.0f}x")


if __name__ == "__main__":
    main()
