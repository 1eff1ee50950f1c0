"""Mirrors one log source of one run into `.cockpit/runs/<id>/<source>.log`, exactly once.

The mirror file is the record of what arrived: a pump resumes the backend stream at the mirror's
size (less any prefix cockpit wrote itself, like pre-flight output), so a supervisor killed
mid-write neither loses nor repeats bytes. Metric samples and anomalies are committed together
with `parsed_offset` (the end of the last parsed line); after a crash the bytes between that
offset and the mirror's end are parsed again, so no sample is lost or doubled.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Protocol

from backends.base import LogSource, RunHandle, SourceReset
from backends.gpu import NO_GPU_LINE
from cockpit.core.anomaly import AnomalyScanner
from cockpit.core.clock import Clock
from cockpit.core.gpuparse import parse_gpu_line
from cockpit.core.logparse import LineSplitter, MetricParser
from cockpit.store.writer import Store


class StreamSource(Protocol):
    """Anything that streams a run's log bytes from an offset: a backend, uploaded logs."""

    def stream(self, handle: RunHandle, source: LogSource, offset: int) -> AsyncIterator[bytes]: ...


class LogPump:
    def __init__(
        self,
        store: Store,
        backend: StreamSource,
        handle: RunHandle,
        source: LogSource,
        mirror: Path,
        parser: MetricParser,
        progress_key: str = "step",
        clock: Clock = time.time,
        loss_key: str = "loss",
        on_no_gpu: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.backend = backend
        self.handle = handle
        self.source = source
        self.mirror = mirror
        self.parser = parser
        self.progress_key = progress_key
        self.loss_key = loss_key
        self._nan_seen = False
        self.on_no_gpu = on_no_gpu
        """Called once when the GPU source says its host has no NVIDIA GPU."""
        self.clock = clock
        self.splitter = LineSplitter()
        self.step: float | None = None
        self.lines = 0
        """Complete lines in the mirror so far: the number of the last one parsed."""
        self.scanner = (
            AnomalyScanner(handle.run_id, source.value) if source is not LogSource.GPU else None
        )

    @property
    def run_id(self) -> str:
        return self.handle.run_id

    def mirrored_bytes(self) -> int:
        try:
            return self.mirror.stat().st_size
        except OSError:
            return 0

    async def run(self) -> None:
        """Mirror the stream from where the mirror ends; again after a break (a new call
        starts from what the store and the mirror hold, nothing from the last)."""
        self.splitter = LineSplitter()
        self.lines = 0
        if self.scanner is not None:
            self.scanner = AnomalyScanner(self.handle.run_id, self.source.value)
        self.mirror.parent.mkdir(parents=True, exist_ok=True)
        self.mirror.touch(exist_ok=True)
        size = self.mirror.stat().st_size
        parsed = self.store.reader.parsed_offset(self.run_id, self.source.value)
        prefix = self.store.reader.prefix_bytes(self.run_id, self.source.value)
        if parsed > 0:
            self.lines = _count_lines(self.mirror, parsed)
            if self.source is LogSource.TRAIN:
                self._recover_step()
        if size > parsed:
            with open(self.mirror, "rb") as existing:
                existing.seek(parsed)
                self._ingest(existing.read(size - parsed), size)
        offset = size
        with open(self.mirror, "ab") as out:
            while True:
                try:
                    async for chunk in self.backend.stream(
                        self.handle, self.source, offset - prefix
                    ):
                        out.write(chunk)
                        out.flush()
                        offset += len(chunk)
                        self._ingest(chunk, offset)
                    break
                except SourceReset as reset:
                    # Keep every byte mirrored; the new file's bytes follow them, so they
                    # count as a prefix from here on.
                    prefix = offset
                    with self.store.transaction():
                        self._record(self.splitter.flush())
                        self.store.set_parsed_offset(self.run_id, self.source.value, offset)
                        self.store.set_prefix_bytes(self.run_id, self.source.value, prefix)
                        self.store.add_event(
                            self.run_id, "log-reset",
                            f"{reset}: the {offset} bytes mirrored are kept; following the new "
                            "file",
                        )  # fmt: skip
        rest = self.splitter.flush()
        with self.store.transaction():
            self._record(rest)
            self.store.set_parsed_offset(self.run_id, self.source.value, offset)

    def _recover_step(self) -> None:
        series = self.store.reader.metrics.series(self.run_id, self.progress_key, limit=1)
        self.step = series[-1] if series else None

    def _ingest(self, chunk: bytes, end_offset: int) -> None:
        pending = self.splitter._pending
        start = end_offset - len(chunk) - len(pending)  # where the batch's first line starts
        lines = self.splitter.feed(chunk)
        parsed_offset = end_offset - len(self.splitter._pending)

        def locate(index: int) -> int | None:
            """Where the batch's line `index` starts (asked only for anomalies: rare)."""
            data, at = pending + chunk, 0
            for _ in range(index):
                at = data.find(b"\n", at) + 1
                if at == 0:
                    return None
            return start + at

        with self.store.transaction():
            self._record(lines, ends_lines=not self.splitter.piece, locate=locate)
            self.store.set_parsed_offset(self.run_id, self.source.value, parsed_offset)

    def _record(
        self,
        lines: list[str],
        ends_lines: bool = True,
        locate: Callable[[int], int | None] | None = None,
    ) -> None:
        """Parse `lines`, the first numbered after the last complete line. A piece of an
        unterminated line (`ends_lines=False`) takes the number of the line it is part of and
        ends none: line numbers count newlines only."""
        if not lines:
            return
        first = self.lines + 1
        if ends_lines:
            self.lines += len(lines)
        if self.scanner is not None:
            for anomaly in self.scanner.scan_lines(lines, first):
                offset = locate(anomaly.line_no - first) if locate is not None else None
                self.store.add_anomaly(
                    self.run_id, anomaly.source, anomaly.line_no, anomaly.kind, anomaly.line,
                    offset,
                )  # fmt: skip
        now = self.clock()
        blocks: dict[str, tuple[list[float], list[float]]] = {}
        if self.source is LogSource.TRAIN:
            step = math.nan if self.step is None else self.step
            got = self.parser.collect(lines, self.progress_key, self.loss_key, step)
            blocks = got.blocks
            self.step = None if got.step != got.step else got.step
            if got.first_bad_loss is not None and not self._nan_seen:
                self._nan_seen = True  # the first diverged line decides class `nan`
                index = got.first_bad_loss
                self.store.add_anomaly(
                    self.run_id, self.source.value, first + index, "nan", lines[index],
                    locate(index) if locate is not None else None,
                )  # fmt: skip
        elif self.source is LogSource.GPU:
            for line in lines:
                sample = parse_gpu_line(line)
                if sample is None:
                    if self.on_no_gpu is not None and line.startswith(NO_GPU_LINE):
                        self.on_no_gpu()  # the sampler's own announcement: a fact, not prose
                        self.on_no_gpu = None
                    continue
                readings: tuple[tuple[str, float | None], ...] = (
                    ("gpu_util", sample.util),
                    ("gpu_mem", sample.mem_percent),
                    ("gpu_temp", sample.temp_c),
                    ("gpu_power", sample.power_w),
                )
                for name, reading in readings:
                    if reading is not None and math.isfinite(reading):
                        # GPU 0 is `gpu_util`, GPU 1 `gpu_util1`, ...
                        key = f"{name}{sample.index}" if sample.index else name
                        block = blocks.setdefault(key, ([], []))
                        block[0].append(math.nan)
                        block[1].append(reading)
        for key, (steps, series) in blocks.items():
            self.store.add_metric_block(self.run_id, key, now, steps, series)


def _count_lines(path: Path, end: int) -> int:
    """Newlines in the first `end` bytes of `path`."""
    count = 0
    with open(path, "rb") as handle:
        remaining = end
        while remaining > 0:
            chunk = handle.read(min(remaining, 4 * 1024 * 1024))
            if not chunk:
                break
            count += chunk.count(b"\n")
            remaining -= len(chunk)
    return count
