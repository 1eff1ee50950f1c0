"""Shared fixtures: a throwaway project whose runs are the stand-in trainer."""

from __future__ import annotations

import asyncio
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
SAMPLES = Path(__file__).parent / "samples"  # a copy of shared/samples: tests stand alone

PLAN = """# tests/case — stand-in trainer

State: in_progress

## Hypotheses
- [ ] H1: succeeds (threshold: val_loss <= 0.6)
- [ ] H2: raises
- [ ] H3: exits 0 without markers
- [ ] H4: waits for release
- [ ] H5: runs until stopped
- [ ] H6: runs out of memory
- [ ] H7: stalls
- [ ] H8: diverges

## Skip list
- smoke test を skip

## Iteration log
| iter | start | hypothesis | plan | run_id | primary metric | verdict | result | analysis |
|---|---|---|---|---|---|---|---|---|
"""


def write_project(root: Path, extra_toml: str = "", top: str = "") -> Path:
    """A project whose runs are the stand-in trainer; `top` holds top-level keys, `extra_toml`
    more tables."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "hypotheses.md").write_text(PLAN, encoding="utf-8")
    trainer = shlex.quote(str(FIXTURES / "trainer.py"))
    python = shlex.quote(sys.executable)
    (root / "cockpit.toml").write_text(
        top + f'command = "{python} {trainer} {{hypothesis}}"\n'
        'setup = "echo setting up; echo setup done"\n'
        "[backends.local]\n"
        'kind = "local"\n'
        "cost_per_hour = 3.6\n"
        "gpu_interval_seconds = 0.2\n"
        "[supervisor]\n"
        "poll_seconds = 0.1\n"
        "idle_exit_seconds = 2\n"
        "stop_grace_seconds = 2\n" + extra_toml,
        encoding="utf-8",
    )
    return root


@pytest.fixture(autouse=True)
def user_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test reads or writes the real user's settings (themes, remembered choices)."""
    folder = tmp_path_factory.mktemp("xdg")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(folder))
    return folder


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "proj")


def wait_for(predicate: Callable[[], object], timeout: float = 30.0, what: str = "") -> object:
    """Block until `predicate()` is truthy: the condition is re-checked, never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.02)


async def async_wait_for(
    predicate: Callable[[], object], timeout: float = 30.0, what: str = ""
) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.02)


from tests.harness import make  # noqa: E402, F401 - the supervision fixture
from tests.runpod_fixtures import fake, pod_ssh  # noqa: E402, F401 - RunPod's fixtures
