"""A stand-in trainer for the benchmarks: waits until the benchmark opens the `go` FIFO, writes
LINES lines to stdout (as fast as it can, or RATE lines a second in 1000-line blocks), then
waits on the `release` FIFO before it exits 0. Usage: flood.py GO RELEASE LINES [RATE]"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.support.lines import block


def main() -> None:
    go, release, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rate = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
    # Built before the start (up to 2M lines, 170 MB): the benchmark times cockpit, not this
    # script's f-strings. Longer floods (the memory benchmark) build each block as they go.
    starts = range(0, count, 1000)
    blocks: Iterable[bytes] = (block(start, min(1000, count - start)).encode() for start in starts)
    if count <= 2_000_000:
        blocks = list(blocks)
    with open(go) as fifo:  # blocks until the benchmark opens it for writing
        fifo.read()
    out = sys.stdout.buffer
    started = time.perf_counter()
    for number, data in enumerate(blocks, start=1):
        out.write(data)
        if rate:
            out.flush()
            pause = started + number * 1000 / rate - time.perf_counter()
            if pause > 0:
                time.sleep(pause)  # pacing the writer, not waiting for a result
    out.flush()
    with open(release) as fifo:
        fifo.read()


if __name__ == "__main__":
    main()
