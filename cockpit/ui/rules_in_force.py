"""The health, recover and cost rules the supervisor enforces, in words, for the help screen.

They come from the store (`meta.enforced`, what the supervisor runs with), not from the file:
a cockpit.toml edited into something invalid is not what is enforced. Before any supervisor
has said, the file's are shown and the heading says so.
"""

from __future__ import annotations

from typing import Any

from cockpit.core.config import CockpitConfig
from cockpit.core.health import FAILURE_WORDS


def _dollars(value: object) -> str:
    return f"${float(value):,.2f}" if isinstance(value, int | float) else "none"


def _minutes(seconds: float) -> str:
    return f"{seconds:g} s" if seconds < 120 else f"{seconds / 60:g} min"


def rules_in_force(enforced: dict[str, Any], config: CockpitConfig) -> tuple[str, list[str]]:
    """(heading, one line per rule)."""
    if enforced:
        heading, rules = "rules in force (as the supervisor enforces them)", enforced
    else:
        heading = "rules in force (from cockpit.toml: no supervisor has started yet)"
        rules = config.enforced_rules()
    cost, health, recover = rules.get("cost", {}), rules.get("health", {}), rules.get("recover", {})
    lines = []
    caps = [
        f"{what} cap {_dollars(cost.get(key))}"
        for what, key in (("run", "run_cap"), ("plan", "plan_cap"))
        if cost.get(key) is not None
    ]
    lines.append(
        "cost: " + ", ".join(caps) + ": a run that reaches a cap is stopped, terminated and "
        "never relaunched"
        if caps
        else "cost: no cap (a plan's or hypothesis's own cap still applies)"
    )
    poll = float(health.get("poll_seconds", 60))
    lines.append(
        f"stall: a warning after {health.get('stall_checks', 2)} checks "
        f"{_minutes(poll)} apart without progress (never a stop)"
    )
    patience = health.get("nan_patience", 3)
    lines.append(
        f"NaN: stopped after {patience} NaN/inf losses in a row"
        if health.get("stop_on_nan", True)
        else f"NaN: a warning after {patience} NaN/inf losses in a row (not stopped)"
    )
    factor = health.get("timeout_factor", 2.0)
    expected = health.get("expected_minutes")
    basis = f"{expected:g} min" if expected else "the last successful run's time"
    action = "stopped (class timeout)" if health.get("stop_on_timeout") else "put on hold"
    lines.append(f"time: past {factor:g}× the expected duration ({basis}) a run is {action}")
    classes = list(recover.get("on", []))
    if classes:
        what = ", ".join(FAILURE_WORDS.get(kind, kind) for kind in classes)
        attempts = recover.get("max_attempts", 2)
        lines.append(
            f"relaunch: after {what}, up to {attempts} attempts in all, "
            f"{_minutes(float(recover.get('backoff_seconds', 30)))} apart at first "
            "(doubling); any other failure is not relaunched"
        )
    else:
        lines.append("relaunch: nothing is relaunched automatically (recover.on is empty)")
    lines.append(f"parallel: at most {rules.get('max_parallel', 1)} active run(s) per plan")
    return heading, lines
