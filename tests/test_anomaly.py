"""Failure classes from the sample logs, with the line that decided."""

from __future__ import annotations

from cockpit.anomaly import AnomalyScanner
from cockpit.health import Anomaly, classify
from cockpit.logparse import iter_lines
from tests.conftest import SAMPLES


def scan(name: str) -> list[Anomaly]:
    scanner = AnomalyScanner("r", "train")
    found = []
    for number, line in enumerate(iter_lines((SAMPLES / "logs" / name).read_bytes()), start=1):
        anomaly = scanner.scan(line, number)
        if anomaly:
            found.append(anomaly)
    return found


def test_cuda_oom() -> None:
    (oom,) = scan("cuda_oom.log")
    assert oom.kind == "oom" and oom.line_no == 10
    assert oom.line.startswith("torch.OutOfMemoryError: CUDA out of memory")
    assert classify(1, (oom,)).kind == "oom"


def test_killed_by_the_oom_killer() -> None:
    (killed,) = scan("killed.log")
    assert killed.kind == "killed" and killed.line_no == 3
    assert classify(137, (killed,)).line == killed.line


def test_a_traceback_is_decided_by_its_exception_line() -> None:
    scanner = AnomalyScanner("r", "train")
    lines = [
        "step=1 loss=0.5",
        "Traceback (most recent call last):",
        '  File "train.py", line 3, in <module>',
        "    main()",
        "KeyError: 'obs'",
        "",
        "During handling of the above exception, another exception occurred:",
        "",
        "Traceback (most recent call last):",
        '  File "train.py", line 9, in <module>',
        "RuntimeError: boom",
    ]
    found = [a for n, line in enumerate(lines, 1) if (a := scanner.scan(line, n))]
    assert [(a.kind, a.line_no, a.line) for a in found] == [
        ("crash", 5, "KeyError: 'obs'"),
        ("crash", 11, "RuntimeError: boom"),
    ]
    # The last exception of a chain is the one that ended the run.
    assert classify(1, tuple(found)).line == "RuntimeError: boom"


def test_plain_logs_have_no_anomaly() -> None:
    for name in ("jsonl_metrics.log", "hf_trainer.log", "lightning_tqdm.log", "onstart.log"):
        assert scan(name) == []


def test_exit_codes_without_anomalies() -> None:
    assert classify(None, ()).kind == "killed"
    assert classify(137, ()).kind == "killed"
    assert classify(2, ()).kind == "unknown"
    scanner = AnomalyScanner("r", "onstart")
    lines = ["Traceback (most recent call last):", "OSError: [Errno 28] No space left on device"]
    found = tuple(a for n, line in enumerate(lines, 1) if (a := scanner.scan(line, n)))
    assert classify(1, found).kind == "infra"


def test_batch_scanning_finds_exactly_what_line_by_line_scanning_finds() -> None:
    """The pump scans batches (one regex over the whole batch); a traceback cut across two
    batches, or a batch boundary anywhere, changes nothing."""
    lines: list[str] = []
    for log in sorted((SAMPLES / "logs").glob("*.log")):
        lines += list(iter_lines(log.read_bytes()))
    lines += [
        "Traceback (most recent call last):",
        '  File "x.py", line 1',
        "RuntimeError: boom",
        "Killed",
        "ok Killed",
        "SKilled is not killed",
        "NCCL error: unhandled",
        "NCCL WARN op timeout",
        "Watchdog caught collective operation timeout: x",
        "RuntimeError: CUDA error: an illegal memory access was encountered",
        "NVRM: Xid 79, GPU has fallen off the bus",
        "uncorrectable ECC error",
        "ConnectionResetError: Connection reset by peer",
        "Temporary failure in name resolution",
        "RuntimeError: CUBLAS_STATUS_ALLOC_FAILED",
        "cudaErrorMemoryAllocation",
        "MemoryError",
        "torch.OutOfMemoryError: CUDA out of memory.",
        "OSError: [Errno 28] No space left on device",
        "İİİ killed? no: Killed",
        "",
    ]
    reference = AnomalyScanner("r", "train")
    expected = [a for n, line in enumerate(lines, 1) if (a := reference.scan(line, n))]
    assert len(expected) >= 6
    for size in (1, 2, 3, 7, 50, len(lines)):
        scanner = AnomalyScanner("r", "train")
        found: list[Anomaly] = []
        for start in range(0, len(lines), size):
            found += scanner.scan_lines(lines[start : start + size], start + 1)
        assert found == expected, size
