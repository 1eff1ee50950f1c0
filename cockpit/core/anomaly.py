"""Recognising failures in log lines: OOM, tracebacks, the OOM killer, infrastructure errors.

A scanner per log source reads lines in order. For a Python traceback the deciding line is the
exception line that ends it (`RuntimeError: ...`), not the `Traceback` header, so the UI can show
what actually went wrong.
"""

from __future__ import annotations

import re

from cockpit.core.health import Anomaly

_OOM = re.compile(
    r"CUDA out of memory|OutOfMemoryError|CUBLAS_STATUS_ALLOC_FAILED|"
    r"RuntimeError: .*out of memory|cudaErrorMemoryAllocation|MemoryError\b",
    re.I,
)
_KILLED = re.compile(r"(^|\s)Killed(\s|$)")
_INFRA = re.compile(
    r"No space left on device|NCCL (error|WARN.*timeout)|Watchdog caught collective operation "
    r"timeout|CUDA error: (an illegal memory access|unspecified launch failure)|"
    r"Xid \d+|ECC error|Connection reset by peer|Temporary failure in name resolution",
    re.I,
)
_NATIVE_CRASH = re.compile(
    r"Segmentation fault|Fatal Python error|core dumped|^(?:.*: )?Aborted\s*$|"
    r"Illegal instruction|Bus error|Floating point exception|"
    r"terminate called after throwing|stack smashing detected|double free or corruption|"
    r"free\(\): invalid|malloc\(\): (?:corrupted|memory corruption)|"
    r"\bSIG(?:SEGV|ABRT|BUS|ILL|FPE)\b"
)
"""How runtimes report a native crash (shells, glibc, CPython's faulthandler, C++ runtimes
under PyTorch and NCCL): class `crash`, whatever the exit code says."""
_TRACEBACK = "Traceback (most recent call last):"
_CHAINED = ("During handling of the above exception", "The above exception was the direct cause")
_KEYWORDS = (
    "out of memory", "memoryerror", "cublas_status_alloc_failed", "cudaerrormemoryallocation",
    "killed", "traceback (most recent call last):",
    "no space left on device", "nccl ", "watchdog caught collective operation timeout",
    "cuda error: ", "xid ", "ecc error", "connection reset by peer",
    "temporary failure in name resolution",
    "segmentation fault", "fatal python error", "core dumped", "aborted", "illegal instruction",
    "bus error", "floating point exception", "terminate called after throwing",
    "stack smashing detected", "double free or corruption", "free(): invalid", "malloc(): ",
    "sigsegv", "sigabrt", "sigbus", "sigill", "sigfpe",
)  # fmt: skip
"""Lower-case text that every line `scan` reports contains (at least) one of: a batch is
searched for these with `str.find`, and only from a hit on are lines scanned one by one. A test
holds batch scanning equal to line-by-line scanning."""


class AnomalyScanner:
    """Feed lines of one source in order; get back the anomalies they show."""

    def __init__(self, run_id: str, source: str) -> None:
        self.run_id = run_id
        self.source = source
        self._in_traceback = False

    def scan_lines(self, lines: list[str], first_no: int) -> list[Anomaly]:
        """`scan` over consecutive lines numbered from `first_no`, at C speed where nothing
        can match: a regex per line costs ~10 us, a substring search over the batch ~nothing."""
        found: list[Anomaly] = []
        text = "\n".join(lines).lower()  # lower() keeps every newline, so line numbers hold
        index, position = 0, 0  # the line at `index` starts at `position` in `text`
        while index < len(lines):
            if not self._in_traceback:
                hits = [at for word in _KEYWORDS if (at := text.find(word, position)) >= 0]
                if not hits:
                    break
                hit = min(hits)
                index += text.count("\n", position, hit)
                position = text.rfind("\n", 0, hit) + 1
            anomaly = self.scan(lines[index], first_no + index)
            if anomaly is not None:
                found.append(anomaly)
            position = text.find("\n", position) + 1 or len(text)
            index += 1
        return found

    def scan(self, line: str, line_no: int) -> Anomaly | None:
        if _OOM.search(line):
            self._in_traceback = False
            return Anomaly("oom", self.source, line_no, line)
        if line.startswith(_TRACEBACK):
            self._in_traceback = True
            return None
        if self._in_traceback:
            if not line or line[0] in " \t" or line.startswith(_CHAINED):
                return None
            self._in_traceback = False
            kind = "infra" if _INFRA.search(line) else "crash"
            return Anomaly(kind, self.source, line_no, line)
        if _KILLED.search(line):
            return Anomaly("killed", self.source, line_no, line)
        if _INFRA.search(line):
            return Anomaly("infra", self.source, line_no, line)
        if _NATIVE_CRASH.search(line):
            return Anomaly("crash", self.source, line_no, line)
        return None
