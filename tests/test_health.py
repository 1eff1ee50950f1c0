"""`decide` is pure: every rule is a row here, with a fixed clock."""

from __future__ import annotations

from dataclasses import replace

import pytest

from backends.base import Observation, RunPhase
from cockpit.core.health import (
    Anomaly,
    ArtifactCheck,
    CheckArtifacts,
    NoRelaunch,
    Notify,
    Policy,
    Relaunch,
    RunFacts,
    SetState,
    SetWarnings,
    StopAndTerminate,
    decide,
)

NOW = 1_000_000.0
OK = ArtifactCheck(found=("best.pt", "metrics.json"), missing=())
MISSING = ArtifactCheck(found=("best.pt",), missing=("metrics.json",))
BAD_JSON = ArtifactCheck(found=("best.pt", "metrics.json"), missing=(), metrics_error="line 1")
OOM = Anomaly("oom", "train", 10, "torch.OutOfMemoryError: CUDA out of memory.")
CRASH = Anomaly("crash", "train", 7, "RuntimeError: boom")
KILLED = Anomaly("killed", "train", 3, "line 12:  2231 Killed   python train.py")
NAN = Anomaly("nan", "train", 12, "step=1030 loss=nan lr=0.0003")

RUNNING = RunFacts("running", started_at=NOW - 600)
EXITED = RunFacts("running", logs_drained=True, started_at=NOW - 600)
TRAINING = Observation(RunPhase.TRAINING)


def exited(code: int | None) -> Observation:
    return Observation(RunPhase.EXITED, code)


def kinds(actions: list) -> list[str]:  # type: ignore[type-arg]
    """A compact picture of the actions: state changes, stops, relaunch decisions."""
    out = []
    for action in actions:
        if isinstance(action, SetState):
            out.append(action.state + (f"/{action.failure.kind}" if action.failure else ""))
        elif isinstance(action, StopAndTerminate):
            out.append(
                "stop->" + action.state + (f"/{action.failure.kind}" if action.failure else "")
            )
        elif isinstance(action, SetWarnings):
            out.append("warn:" + ",".join(action.warnings))
        elif isinstance(action, CheckArtifacts):
            out.append("check-artifacts")
        elif isinstance(action, Relaunch):
            out.append(f"relaunch+{action.delay_s:g}s")
        elif isinstance(action, NoRelaunch):
            out.append("hold:" + action.guard.split(":")[0].split(" (")[0])
    return out


ROWS = [
    # name, facts, observation, expected
    ("setup keeps starting", RunFacts("starting"), Observation(RunPhase.SETUP), []),
    ("training starts", RunFacts("starting"), TRAINING, ["running"]),
    ("metrics advancing: nothing", replace(RUNNING, progress=(10, 20, 30)), TRAINING, []),
    ("host unknown is never a failure", RUNNING, Observation(RunPhase.UNKNOWN), []),
    ("exit waits for the logs", RUNNING, exited(0), []),
    ("exit 0 looks for the markers", EXITED, exited(0), ["check-artifacts"]),
    ("exit 0 with markers succeeds", replace(EXITED, artifacts=OK), exited(0), ["succeeded"]),
    (
        "exit 0 without markers fails",
        replace(EXITED, artifacts=MISSING),
        exited(0),
        [
            "failed/no-artifacts",
            "hold:an exit without the success markers is not relaunched automatically",
        ],
    ),
    (
        "unreadable metrics JSON fails",
        replace(EXITED, artifacts=BAD_JSON),
        exited(0),
        [
            "failed/no-artifacts",
            "hold:an exit without the success markers is not relaunched automatically",
        ],
    ),
    (
        "OOM is a code failure, not relaunched",
        replace(EXITED, anomalies=(CRASH, OOM)),
        exited(1),
        ["failed/oom", "hold:running out of memory is not relaunched automatically"],
    ),
    (
        "Traceback is a crash",
        replace(EXITED, anomalies=(CRASH,)),
        exited(1),
        ["failed/crash", "hold:a crash is not relaunched automatically"],
    ),
    (
        "killed is relaunched after the backoff",
        replace(EXITED, anomalies=(KILLED,)),
        exited(137),
        ["failed/killed", "relaunch+30s"],
    ),
    (
        "killed without a line: exit code decides",
        EXITED,
        exited(None),
        ["failed/killed", "relaunch+30s"],
    ),
    (
        "backoff doubles per attempt",
        replace(EXITED, attempt=2),
        exited(None),
        ["failed/killed", "hold:attempts exhausted"],
    ),
    (
        "unknown exit code",
        EXITED,
        exited(3),
        ["failed/unknown", "hold:an unexplained failure is not relaunched automatically"],
    ),
    (
        "skip list: monitor only",
        replace(EXITED, monitor_only=True),
        exited(None),
        ["failed/killed", "hold:skip list"],
    ),
    (
        "plan paused",
        replace(EXITED, plan_state="paused"),
        exited(None),
        ["failed/killed", "hold:plan state is paused"],
    ),
    (
        "setup failure is judged like any exit",
        replace(EXITED, state="starting"),
        exited(2),
        ["failed/unknown", "hold:an unexplained failure is not relaunched automatically"],
    ),
    ("a stop in progress is not a failure", replace(EXITED, stopping=True), exited(None), []),
    ("terminal runs are left alone", replace(EXITED, state="succeeded"), exited(1), []),
    (
        "run cap reached: stop, never relaunch",
        replace(RUNNING, cost_so_far=5.0, cap=5.0),
        TRAINING,
        ["stop->cap-exceeded", "hold:cost cap"],
    ),
    (
        "plan cap reached",
        replace(RUNNING, plan_cost=20.0, plan_cap=20.0),
        TRAINING,
        ["stop->cap-exceeded", "hold:cost cap"],
    ),
    (
        "the cap wins over a relaunchable exit",
        replace(EXITED, cost_so_far=9, cap=5),
        exited(None),
        ["stop->cap-exceeded", "hold:cost cap"],
    ),
    ("under the cap: nothing", replace(RUNNING, cost_so_far=3.99, cap=5.0), TRAINING, []),
    (
        "stalled after 2 checks without progress",
        replace(RUNNING, progress=(10, 50, 50, 50)),
        TRAINING,
        ["warn:stalled"],
    ),
    ("one flat check is not a stall", replace(RUNNING, progress=(10, 50, 50)), TRAINING, []),
    (
        "a stall never stops",
        replace(RUNNING, progress=(50, 50, 50), warnings=("stalled",)),
        TRAINING,
        [],
    ),
    (
        "progress again clears the warning",
        replace(RUNNING, progress=(50, 50, 60), warnings=("stalled",)),
        TRAINING,
        ["warn:"],
    ),
    ("no metric at all is no stall", replace(RUNNING, progress=(None, None, None)), TRAINING, []),
    ("over 2x expected: on hold", replace(RUNNING, expected_s=200), TRAINING, ["warn:on-hold"]),
    ("within 2x expected", replace(RUNNING, expected_s=400), TRAINING, []),
    (
        "NaN loss for 3 samples: stopped",
        replace(RUNNING, nan_streak=3, anomalies=(NAN,)),
        TRAINING,
        ["stop->failed/nan", "hold:a loss gone NaN or infinite is not relaunched automatically"],
    ),
    ("a NaN or two: a warning", replace(RUNNING, nan_streak=1), TRAINING, ["warn:nan"]),
]


@pytest.mark.parametrize(("name", "facts", "obs", "expected"), ROWS, ids=[r[0] for r in ROWS])
def test_decide(name: str, facts: RunFacts, obs: Observation, expected: list[str]) -> None:
    actions = decide(facts, obs, Policy(), NOW)
    assert kinds(actions) == expected
    # Every state change and every new warning is announced.
    changes = [a for a in actions if isinstance(a, SetState | StopAndTerminate)]
    assert len([a for a in actions if isinstance(a, Notify)]) >= len(changes)


def test_policy_knobs() -> None:
    assert kinds(decide(replace(RUNNING, expected_s=200), TRAINING,
                        Policy(stop_on_timeout=True), NOW)) == [
        "stop->failed/timeout", "hold:a run past its time limit is not relaunched automatically",
    ]  # fmt: skip
    assert kinds(decide(replace(RUNNING, nan_streak=5), TRAINING, Policy(stop_on_nan=False),
                        NOW)) == ["warn:nan"]  # fmt: skip
    relaunch = decide(replace(EXITED, attempt=2), exited(None), Policy(max_attempts=3), NOW)
    assert kinds(relaunch) == ["failed/killed", "relaunch+60s"]
    everything = Policy(recover_on=frozenset({"crash"}))
    assert kinds(decide(replace(EXITED, anomalies=(CRASH,)), exited(1), everything, NOW)) == [
        "failed/crash", "relaunch+30s",
    ]  # fmt: skip


def test_the_deciding_line_is_kept() -> None:
    actions = decide(replace(EXITED, anomalies=(OOM,)), exited(1), Policy(), NOW)
    state = actions[0]
    assert isinstance(state, SetState) and state.failure is not None
    assert (state.failure.source, state.failure.line_no) == ("train", 10)
    assert state.detail == f"oom: exit code 1: {OOM.line}"


@pytest.mark.parametrize(
    ("last_seen", "setup_done", "during"),
    [
        # The backend's own fact wins: a run that started training and crashed between two
        # polls was last seen `starting`, yet did not fail during setup.
        ("starting", True, ""),
        ("running", False, " during setup"),
        ("starting", False, " during setup"),
        # A backend that cannot tell: the last state seen is all there is.
        ("starting", None, " during setup"),
        ("running", None, ""),
    ],
)
def test_a_failure_says_during_setup_only_when_setup_had_not_finished(
    last_seen: str, setup_done: bool | None, during: str
) -> None:
    facts = replace(EXITED, state=last_seen, anomalies=(CRASH,))
    obs = Observation(RunPhase.EXITED, 1, setup_done=setup_done)
    state = decide(facts, obs, Policy(), NOW)[0]
    assert isinstance(state, SetState)
    assert state.detail == f"crash: exit code 1{during}: {CRASH.line}"
