"""Finding 7 of the lose-nothing issue: write-back never overwrites an edit. A researcher's
editor (here a process appending a note every millisecond or so) and cockpit's write-back race
on the same plan file for thousands of edits; every note and every row must survive, each row
once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cockpit.core.protocol import RunState
from cockpit.core.records import RunRecord
from cockpit.supervisor import plan_edit
from cockpit.supervisor.results import write_result
from tests.conftest import PLAN

EDITS = 3000

APPENDER = """
import sys, time
path, count = sys.argv[1], int(sys.argv[2])
open(sys.argv[3], "w").close()  # started
for i in range(count):
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(f"note {i}\\n")
    time.sleep(0.001)  # an editor's pace, not a wait
"""


def _run(number: int) -> RunRecord:
    now = time.time()
    return RunRecord(
        id=f"h1-race{number:04d}", hypothesis="H1", plan="hypotheses.md", backend="local",
        commit="0" * 40, spec={}, handle=None, state=RunState.SUCCEEDED, request_id=None,
        created_at=now, started_at=now, ended_at=now, exit_code=0, cost_per_hour=0.0,
        cost_so_far=0.0, uptime_s=0.0, detail="",
        hypothesis_text="succeeds (threshold: val_loss <= 0.6)",
    )  # fmt: skip


def test_thousands_of_concurrent_appends_and_write_backs_lose_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under the write lease: no editor can have the plan open while the row goes in."""
    in_place = []
    insert = plan_edit._insert_in_place
    monkeypatch.setattr(plan_edit, "_insert_in_place", lambda *a: in_place.append(1) or insert(*a))
    plan_path = tmp_path / "hypotheses.md"
    plan_path.write_text(PLAN, encoding="utf-8")
    started = tmp_path / "started"
    editor = subprocess.Popen(
        [sys.executable, "-c", APPENDER, str(plan_path), str(EDITS), str(started)]
    )
    runs = []
    try:
        while not started.exists():
            pass
        while editor.poll() is None:
            runs.append(_run(len(runs)))
            write_result(plan_path, runs[-1], [], {"val_loss": 0.5})
    finally:
        editor.wait()
    text = plan_path.read_text(encoding="utf-8")
    notes = [line for line in text.splitlines() if line.startswith("note ")]
    missing = sorted(set(range(EDITS)) - {int(line.split()[1]) for line in notes})
    assert missing == [], f"{len(missing)} of {EDITS} edits lost, e.g. {missing[:5]}"
    assert len(notes) == EDITS
    assert len(runs) >= 50  # the two really raced
    assert len(in_place) == len(runs)
    for run in runs:
        assert text.count(f"| {run.id} |") == 1, run.id


def _racing_replace(monkeypatch: pytest.MonkeyPatch, edit: Callable[[Path], None]) -> list[int]:
    """Without a lease: `edit` lands on the plan between the compare and the swap — the gap
    POSIX cannot close — once."""
    monkeypatch.setattr(plan_edit, "_leased", lambda path: None)
    real = os.replace
    calls: list[int] = []

    def replace(source: str | Path, target: str | Path) -> None:
        if not calls and Path(target).name == "hypotheses.md":
            edit(Path(target))
        calls.append(1)
        real(source, target)

    monkeypatch.setattr(plan_edit.os, "replace", replace)
    return calls


def test_an_append_racing_the_swap_is_merged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compare-and-swap fallback: an editor's append that went into the file just replaced
    is read back from it and added to the new plan."""
    plan_path = tmp_path / "hypotheses.md"
    plan_path.write_text(PLAN, encoding="utf-8")

    def append(path: Path) -> None:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write("note raced\n")

    calls = _racing_replace(monkeypatch, append)
    run = _run(1)
    written = write_result(plan_path, run, [], {"val_loss": 0.5})
    text = plan_path.read_text(encoding="utf-8")
    assert "note raced\n" in text and text.count(f"| {run.id} |") == 1
    assert written.kept_aside is None and len(calls) == 2  # swapped again with the edit merged


def test_an_edit_racing_the_swap_that_cannot_be_merged_is_kept_aside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan_path = tmp_path / "hypotheses.md"
    plan_path.write_text(PLAN, encoding="utf-8")
    rewritten = PLAN.replace("- [ ] H2: raises", "- [x] H2: raises (checked by hand)")

    def rewrite(path: Path) -> None:
        with open(path, "r+", encoding="utf-8") as handle:  # in place, as some editors save
            handle.write(rewritten)
            handle.truncate()

    _racing_replace(monkeypatch, rewrite)
    written = write_result(plan_path, _run(2), [], {"val_loss": 0.5})
    assert written.kept_aside is not None
    assert written.kept_aside.read_text(encoding="utf-8") == rewritten  # nothing of theirs lost
