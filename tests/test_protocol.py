"""The protocol's types: every run state has a mark on every screen, requests go into the
store and come back as the same values, and a bad stored request is refused with the reason."""

from __future__ import annotations

import pytest

from cockpit.cli import status
from cockpit.core.protocol import (
    COMMANDS,
    INFO_WARNINGS,
    LaunchRequest,
    ProtocolError,
    RaiseCapRequest,
    RelaunchRequest,
    RunState,
    RunWarning,
    StopRequest,
    from_payload,
    to_payload,
)
from cockpit.ui import viewmodel
from widgets.hypothesis_list import STATUS_MARK
from widgets.run_header import STATE_MARK


@pytest.mark.parametrize("state", list(RunState))
def test_every_state_has_a_mark_and_a_word_on_every_screen(state: RunState) -> None:
    assert state in STATE_MARK  # the run header
    assert state in status.MARKS  # `cockpit status --tmux`
    plan_status = viewmodel.RUN_TO_STATUS[state]  # the plan list
    mark, word = STATUS_MARK[plan_status]
    assert mark != "?" and word


@pytest.mark.parametrize(
    "command",
    [
        LaunchRequest("H1"),
        LaunchRequest("plans/a/hypotheses.md:H2", plan="plans/a", backend="pod", allow_dirty=True),
        RelaunchRequest("h1-abc123"),
        RelaunchRequest("h1-abc123", auto=True),
        StopRequest("h1-abc123"),
        RaiseCapRequest("hypotheses.md", 12.5),
        RaiseCapRequest("hypotheses.md", 20.0, hypothesis="H3"),
    ],
)
def test_requests_round_trip_through_their_payload(command: object) -> None:
    assert from_payload(command.KIND, to_payload(command)) == command  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("kind", "payload", "problem"),
    [
        ("launhc", {"hypothesis": "H1"}, "unknown request kind 'launhc'"),
        ("launch", {}, "missing 1 required positional argument: 'hypothesis'"),
        ("launch", {"hypothesis": "H1", "gpu": 2}, "unknown field(s) gpu"),
        ("stop", {"run_id": 7}, "field run_id is not a str: 7"),
        ("raise_cap", {"plan": "p", "cap": "lots"}, "field cap is not a float: 'lots'"),
        ("relaunch", {"run_id": "r", "auto": "yes"}, "field auto is not a bool: 'yes'"),
    ],
)
def test_a_bad_stored_request_says_what_is_wrong(kind: str, payload: dict, problem: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ProtocolError) as caught:
        from_payload(kind, payload)
    assert problem in str(caught.value)


def test_numbers_from_old_clients_still_read() -> None:
    assert from_payload("raise_cap", {"plan": "p", "cap": 5}) == RaiseCapRequest("p", 5.0)
    assert from_payload("raise_cap", {"plan": "p", "cap": "7.5"}) == RaiseCapRequest("p", 7.5)


def test_the_kinds_are_the_stored_words() -> None:
    assert set(COMMANDS) == {
        "launch", "relaunch", "stop", "raise_cap", "loop_start", "loop_stop"
    }  # fmt: skip
    assert {RunWarning.GPU_UNAVAILABLE, RunWarning.PENDING} == INFO_WARNINGS
