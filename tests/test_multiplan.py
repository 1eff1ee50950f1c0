"""Several plans in one repository: a glob in the config, grouping, PLAN:H1, per-plan commands."""

from __future__ import annotations

import asyncio
import shlex
import sys
from pathlib import Path

import pytest

from cockpit.core.config import load_config
from cockpit.core.launch_spec import RequestRefused, find_hypothesis
from cockpit.core.paths import ProjectPaths
from cockpit.core.planbook import PlanBook
from cockpit.core.protocol import LaunchRequest
from cockpit.store.reader import StoreReader
from cockpit.supervisor import Supervisor
from cockpit.ui.viewmodel import plan_groups
from tests.conftest import FIXTURES, PLAN, async_wait_for


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for case in ("imitation/case1", "imitation/case2", "rl/case1"):
        folder = root / "docs" / "experiment" / case
        folder.mkdir(parents=True)
        (folder / "hypotheses.md").write_text(PLAN.replace("tests/case", case), encoding="utf-8")
    trainer = f"{shlex.quote(sys.executable)} {shlex.quote(str(FIXTURES / 'trainer.py'))}"
    (root / "cockpit.toml").write_text(
        'plans = "docs/experiment/*/*/hypotheses.md"\n'
        f'command = "{trainer} {{hypothesis}}"\n'
        "[supervisor]\npoll_seconds = 0.1\n"
        "[[plan_overrides]]\n"
        'match = "docs/experiment/rl/*/hypotheses.md"\n'
        f'command = "{trainer} {{hypothesis}} --rl"\n',
        encoding="utf-8",
    )
    return root


def test_hypotheses_are_grouped_by_plan(repo: Path) -> None:
    book = PlanBook(repo, load_config(repo).plans)
    groups = plan_groups(book.reload(), [])
    assert [group.key for group in groups] == [
        "docs/experiment/imitation/case1/hypotheses.md",
        "docs/experiment/imitation/case2/hypotheses.md",
        "docs/experiment/rl/case1/hypotheses.md",
    ]
    assert groups[2].title.startswith("rl/case1")
    assert groups[0].rows[0].key == "docs/experiment/imitation/case1/hypotheses.md:H1"
    root, recursive = book.watch_roots()
    assert root == repo / "docs" / "experiment" and recursive


def test_an_id_in_several_plans_must_be_named(repo: Path) -> None:
    with pytest.raises(RequestRefused, match="H1 is in several plans"):
        find_hypothesis(repo, load_config(repo).plans, "H1", None)
    _, rel, hyp = find_hypothesis(
        repo, load_config(repo).plans, "docs/experiment/rl/case1:H2", None
    )
    assert rel == "docs/experiment/rl/case1/hypotheses.md" and hyp.id == "H2"


async def test_per_plan_command_is_used(repo: Path) -> None:
    supervisor = Supervisor(repo, load_config(repo))
    task = asyncio.create_task(supervisor.run_forever(idle_exit_s=3600))
    try:
        client = StoreReader(ProjectPaths(repo).db)
        for plan in ("docs/experiment/rl/case1", "docs/experiment/imitation/case2"):
            client.submit_request(LaunchRequest(f"{plan}:H1"), "t")
        await async_wait_for(
            lambda: len(client.runs()) == 2 and all(not r.active for r in client.runs()),
            what="both runs to end",
        )
        commands = {run.plan: run.spec["command"] for run in client.runs()}
        assert commands["docs/experiment/rl/case1/hypotheses.md"].endswith("H1 --rl")
        assert commands["docs/experiment/imitation/case2/hypotheses.md"].endswith("H1")
        assert {run.state for run in client.runs()} == {"succeeded"}
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
