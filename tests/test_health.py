"""`decide` is pure: every rule is a row here, with a fixed clock."""

from __future__ import annotations

import pytest

from backends.base import Observation, RunPhase
from cockpit.health import (
    ArtifactCheck,
    CheckArtifacts,
    Notify,
    Policy,
    RunFacts,
    SetState,
    decide,
)

NOW = 1_000_000.0
OK = ArtifactCheck(found=("best.pt", "metrics.json"), missing=())
MISSING = ArtifactCheck(found=("best.pt",), missing=("metrics.json",))
BAD_JSON = ArtifactCheck(found=("best.pt", "metrics.json"), missing=(), metrics_error="line 1")

ROWS = [
    # (name, facts, observation, expected states, expects CheckArtifacts)
    ("setup keeps starting", RunFacts("starting"), Observation(RunPhase.SETUP), [], False),
    ("training starts", RunFacts("starting"), Observation(RunPhase.TRAINING), ["running"], False),
    ("running stays", RunFacts("running"), Observation(RunPhase.TRAINING), [], False),
    ("host unknown is not failure", RunFacts("running"), Observation(RunPhase.UNKNOWN), [], False),
    (
        "exit waits for logs",
        RunFacts("running", logs_drained=False),
        Observation(RunPhase.EXITED, 0),
        [],
        False,
    ),
    (
        "exit 0 looks for markers",
        RunFacts("running", logs_drained=True),
        Observation(RunPhase.EXITED, 0),
        [],
        True,
    ),
    (
        "exit 0 with markers succeeds",
        RunFacts("running", True, OK),
        Observation(RunPhase.EXITED, 0),
        ["succeeded"],
        False,
    ),
    (
        "exit 0 without markers fails",
        RunFacts("running", True, MISSING),
        Observation(RunPhase.EXITED, 0),
        ["failed"],
        False,
    ),
    (
        "unreadable metrics fail",
        RunFacts("running", True, BAD_JSON),
        Observation(RunPhase.EXITED, 0),
        ["failed"],
        False,
    ),
    (
        "non-zero exit fails",
        RunFacts("running", True),
        Observation(RunPhase.EXITED, 1),
        ["failed"],
        False,
    ),
    (
        "setup failure fails",
        RunFacts("starting", True),
        Observation(RunPhase.EXITED, 2),
        ["failed"],
        False,
    ),
    (
        "killed without code fails",
        RunFacts("running", True),
        Observation(RunPhase.EXITED, None),
        ["failed"],
        False,
    ),
    (
        "a stop in progress is not a failure",
        RunFacts("running", True, stopping=True),
        Observation(RunPhase.EXITED, None),
        [],
        False,
    ),
    (
        "terminal runs are left alone",
        RunFacts("succeeded", True),
        Observation(RunPhase.EXITED, 1),
        [],
        False,
    ),
]


@pytest.mark.parametrize(
    ("name", "facts", "obs", "states", "check"), ROWS, ids=[r[0] for r in ROWS]
)
def test_decide(
    name: str, facts: RunFacts, obs: Observation, states: list[str], check: bool
) -> None:
    actions = decide(facts, obs, Policy(), NOW)
    assert [a.state for a in actions if isinstance(a, SetState)] == states
    assert any(isinstance(a, CheckArtifacts) for a in actions) is check
    # Every state change is also announced.
    assert len([a for a in actions if isinstance(a, Notify)]) == len(states)


def test_failure_details_say_why() -> None:
    (state, _) = decide(
        RunFacts("running", True, MISSING), Observation(RunPhase.EXITED, 0), Policy(), NOW
    )
    assert (
        isinstance(state, SetState)
        and "no-artifacts" in state.detail
        and "metrics.json" in state.detail
    )
    (state, _) = decide(RunFacts("running", True), Observation(RunPhase.EXITED, 137), Policy(), NOW)
    assert isinstance(state, SetState) and "137" in state.detail
