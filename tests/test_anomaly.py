"""Failure classes from the sample logs, with the line that decided."""

from __future__ import annotations

import pytest

from cockpit.core.anomaly import AnomalyScanner
from cockpit.core.health import Anomaly, classify
from tests.conftest import SAMPLES
from tests.readings import iter_lines


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


SIGNAL_EXITS = [
    # (exit code as the supervisor sees it, class, signal named in the deciding line)
    (139, "crash", "SIGSEGV"),  # 128 + 11 through the wrapper's shell
    (-11, "crash", "SIGSEGV"),  # Popen's negative return code
    (134, "crash", "SIGABRT"),
    (-6, "crash", "SIGABRT"),
    (135, "crash", "SIGBUS"),
    (132, "crash", "SIGILL"),
    (136, "crash", "SIGFPE"),
    (137, "killed", "SIGKILL"),
    (-9, "killed", "SIGKILL"),
    (143, "killed", "SIGTERM"),
    (-15, "killed", "SIGTERM"),
    (130, "killed", "SIGINT"),
]


@pytest.mark.parametrize(("code", "kind", "name"), SIGNAL_EXITS)
def test_a_death_by_signal_is_classed_by_the_signal(code: int, kind: str, name: str) -> None:
    failure = classify(code, ())
    assert (failure.kind, name in failure.line) == (kind, True), failure.line


@pytest.mark.parametrize("code", [1, 2, 127, 128, 255])
def test_plain_exit_codes_are_not_signals(code: int) -> None:
    assert classify(code, ()).kind == "unknown"


NATIVE_CRASH_LINES = [
    # what shells print for a child's death
    "Segmentation fault (core dumped)",
    "/bin/sh: line 1: 48213 Segmentation fault      (core dumped) python train.py",
    "sh: 1: python: Segmentation fault",
    "Aborted (core dumped)",
    "Aborted",
    "Illegal instruction (core dumped)",
    "Bus error (core dumped)",
    "Floating point exception (core dumped)",
    # CPython's faulthandler
    "Fatal Python error: Segmentation fault",
    "Fatal Python error: Aborted",
    "Fatal Python error: Bus error",
    # glibc's heap and stack checks (they abort)
    "free(): invalid pointer",
    "double free or corruption (out)",
    "malloc(): corrupted top size",
    "*** stack smashing detected ***: terminated",
    # C++ runtimes under PyTorch and NCCL
    "terminate called after throwing an instance of 'c10::Error'",
    "terminate called after throwing an instance of 'c10::DistBackendError'",
    "[rank0]: Caught signal 11 (SIGSEGV), backtrace:",
    "*** SIGABRT received at time=1732571234 on cpu 3 ***",
]


@pytest.mark.parametrize("line", NATIVE_CRASH_LINES)
def test_native_crash_wordings_are_crash_anomalies(line: str) -> None:
    scanner = AnomalyScanner("r", "train")
    found = scanner.scan_lines(["step 10 loss 0.4", line, "step 11 loss 0.39"], 1)
    assert [(a.kind, a.line_no, a.line) for a in found] == [("crash", 2, line)]
    assert classify(139, tuple(found)).line == line  # the deciding line, not just the code


@pytest.mark.parametrize(
    "line",
    [
        "training aborted the warm-up phase early (as configured)",
        "epoch 3: bus errors are rare on this interconnect",
        "loaded core dump analyser plugin",
    ],
)
def test_prose_near_those_words_is_not_a_crash(line: str) -> None:
    assert AnomalyScanner("r", "train").scan_lines([line], 1) == []


def test_an_nccl_failure_is_infra_though_the_runtime_then_aborts() -> None:
    lines = [
        "[rank0]:[E ProcessGroupNCCL.cpp:1316] [PG 0 Rank 0] Process group watchdog thread "
        "terminated with exception: NCCL error: unhandled system error",
        "terminate called after throwing an instance of 'c10::DistBackendError'",
        "Fatal Python error: Aborted",
    ]
    found = tuple(AnomalyScanner("r", "train").scan_lines(lines, 1))
    assert [a.kind for a in found] == ["infra", "crash", "crash"]
    assert classify(134, found).kind == "infra"
