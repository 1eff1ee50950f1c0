"""Line numbers count newlines only: a long unterminated line flushed in pieces is still one
line, so the failure line `j` jumps to and the result file cites is the right one (issue 14,
finding 8)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from backends.base import LogSource, RunHandle
from cockpit.core.logparse import MAX_LINE, MetricParser
from cockpit.store.writer import Store
from cockpit.supervisor.log_pump import LogPump


class Chunks:
    """A stream that delivers the given byte chunks, one by one."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    async def stream(
        self, handle: RunHandle, source: LogSource, offset: int
    ) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk


async def test_a_long_unterminated_line_is_one_line(tmp_path: Path) -> None:
    long_line = b"x" * (200 * MAX_LINE)  # flushed in pieces before its newline arrives
    text = [b"step 1\n", long_line[: 70 * MAX_LINE], long_line[70 * MAX_LINE :] + b"\n"]
    text += [b"Traceback (most recent call last):\n", b'  File "t.py", line 1\n']
    text += [b"RuntimeError: boom\n"]
    store = Store(tmp_path / "state.db")
    mirror = tmp_path / "train.log"
    handle = RunHandle("r1", "local", "/run", {})
    pump = LogPump(store, Chunks(text), handle, LogSource.TRAIN, mirror, MetricParser())
    await pump.run()
    (anomaly,) = store.reader.anomalies("r1")
    physical = mirror.read_bytes().split(b"\n")
    assert anomaly.line == "RuntimeError: boom"
    assert physical[anomaly.line_no - 1] == b"RuntimeError: boom"  # line 5, not 6
    assert pump.lines == mirror.read_bytes().count(b"\n")


async def test_the_failure_line_offset_is_where_the_line_starts(tmp_path: Path) -> None:
    """The pump stores the byte where an anomaly's line starts, across chunks that cut lines
    anywhere (and a line held back as pending between chunks): `j` seeks there."""
    body = b"".join(b'{"step": %d, "loss": 0.5}\r{"step": %d}\n' % (i, i) for i in range(500))
    body += b'Traceback (most recent call last):\n  File "t.py", line 1\n'
    body += b"torch.OutOfMemoryError: CUDA out of memory.\n" + b"after\n" * 10
    chunks = [body[i : i + 997] for i in range(0, len(body), 997)]  # cuts lines anywhere
    store = Store(tmp_path / "state.db")
    mirror = tmp_path / "train.log"
    handle = RunHandle("r1", "local", "/run", {})
    await LogPump(store, Chunks(chunks), handle, LogSource.TRAIN, mirror, MetricParser()).run()
    found = store.reader.anomalies("r1")
    assert found
    data = mirror.read_bytes()
    for anomaly in found:
        offset = store.reader.line_offset("r1", anomaly.source, anomaly.line_no)
        assert offset is not None
        starts = [0] + [i + 1 for i, byte in enumerate(data) if byte == 0x0A]
        assert offset == starts[anomaly.line_no - 1], anomaly
        assert data[offset:].startswith(anomaly.line.encode()[:20])
