"""Finding 7 of the lose-nothing issue: write-back never overwrites an edit. A researcher's
editor (here a process appending a note every millisecond or so) and cockpit's write-back race
on the same plan file for thousands of edits; every note and every row must survive, each row
once."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from cockpit.protocol import RunState
from cockpit.records import RunRecord
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


@pytest.mark.parametrize("lease", [True, False], ids=["lease", "compare-and-swap"])
def test_thousands_of_concurrent_appends_and_write_backs_lose_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lease: bool
) -> None:
    in_place = []
    if lease:
        insert = plan_edit._insert_in_place
        monkeypatch.setattr(
            plan_edit, "_insert_in_place", lambda *a: in_place.append(1) or insert(*a)
        )
    else:  # another OS, a filesystem without leases, a plan someone keeps open
        monkeypatch.setattr(plan_edit, "_leased", lambda path: None)
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
    assert len(in_place) == (len(runs) if lease else 0)
    for run in runs:
        assert text.count(f"| {run.id} |") == 1, run.id
