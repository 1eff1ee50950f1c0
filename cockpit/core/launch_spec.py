"""Turning a launch request into a run: find the hypothesis, fill in the command, make the spec.

Pure functions over the plan files and the config, so the supervisor only has to execute them.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

from backends.base import RunSpec
from cockpit.core.config import CockpitConfig
from cockpit.core.plan import Hypothesis, Plan, PlanError, discover_plans, load_plan
from cockpit.core.protocol import RunState
from cockpit.core.records import RunRecord


class RequestRefused(Exception):
    """A request that must not be executed; the message says why."""


def find_hypothesis(
    project: Path, pattern: str, hypothesis: str, plan_rel: str | None
) -> tuple[Plan, str, Hypothesis]:
    """The plan (and its path relative to the project) holding `hypothesis`.

    `hypothesis` may be `PLAN:H1`, where PLAN is the plan's path or its directory.
    """
    if ":" in hypothesis and plan_rel is None:
        plan_rel, hypothesis = hypothesis.rsplit(":", 1)
    matches: list[tuple[Plan, str, Hypothesis]] = []
    problems = []
    for path in discover_plans(project, pattern):
        rel = str(path.relative_to(project))
        if plan_rel and plan_rel.rstrip("/") not in (rel, str(path.parent.relative_to(project))):
            continue
        try:
            plan = load_plan(path)
        except (PlanError, OSError) as exc:
            problems.append(str(exc))
            continue
        found = plan.hypothesis(hypothesis)
        if found is not None:
            matches.append((plan, rel, found))
    if not matches:
        where = f" in {plan_rel}" if plan_rel else ""
        extra = f" ({'; '.join(problems)})" if problems else ""
        raise RequestRefused(f"no hypothesis {hypothesis}{where}{extra}")
    if len(matches) > 1:
        names = ", ".join(rel for _, rel, _ in matches)
        raise RequestRefused(
            f"{hypothesis} is in several plans ({names}); name one as PLAN:{hypothesis}"
        )
    return matches[0]


def find_plan(project: Path, pattern: str, name: str | None) -> str:
    """The plan's path relative to the project: `name` is its path or its directory; with
    None, the project's only plan."""
    plans = [str(path.relative_to(project)) for path in discover_plans(project, pattern)]
    if name:
        wanted = name.rstrip("/")
        plans = [rel for rel in plans if wanted in (rel, str(Path(rel).parent))]
    if not plans:
        raise RequestRefused(f"no plan {name!r}" if name else f"no plan file matches {pattern!r}")
    if len(plans) > 1:
        raise RequestRefused(f"several plans: name one ({', '.join(plans)})")
    return plans[0]


def new_run_id(hypothesis: str, taken: Callable[[str], bool]) -> str:
    """`h1-7f3a2c`: the hypothesis and six random hex digits, unused so far."""
    while True:
        run_id = f"{hypothesis.lower()}-{secrets.token_hex(3)}"
        if not taken(run_id):
            return run_id


def build_run(
    config: CockpitConfig,
    project: Path,
    hypothesis: Hypothesis,
    plan_rel: str,
    backend: str,
    run_dir: str,
    commit: str,
    run_id: str,
    request_id: str | None,
    now: float,
) -> tuple[RunSpec, RunRecord]:
    """The spec the backend gets and the row the store gets for a new run."""
    command, setup, markers = config.for_plan(plan_rel)
    spec = RunSpec(
        run_id=run_id,
        hypothesis=hypothesis.id,
        plan=plan_rel,
        command=command.format(
            hypothesis=hypothesis.id, run_id=run_id, commit=commit, run_dir=run_dir
        ),
        setup=setup,
        workdir=str(project),
        commit=commit,
        success_markers=tuple(markers),
    )
    record = RunRecord(
        id=run_id,
        hypothesis=hypothesis.id,
        plan=plan_rel,
        backend=backend,
        commit=commit,
        spec=spec.to_json(),
        handle=None,
        state=RunState.STARTING,
        request_id=request_id,
        created_at=now,
        started_at=None,
        ended_at=None,
        exit_code=None,
        cost_per_hour=0.0,
        cost_so_far=0.0,
        uptime_s=0.0,
        detail="launching",
        hypothesis_text=hypothesis.text,
    )
    return spec, record
