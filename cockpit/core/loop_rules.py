"""The loop's rules that need no I/O: which hypothesis is next, what counts as skipped, how a
loop is described, how a duration is written. Shared by the supervisor's loop, the CLI and the
interactive cockpit's confirmation; table-tested."""

from __future__ import annotations

from cockpit.core.plan import Hypothesis, Plan


def hypothesis_key(hypothesis: Hypothesis) -> str:
    """How a loop remembers a hypothesis it tried: a named line by its id (its text may be
    edited), an unnamed one by its text (its position moves)."""
    return hypothesis.id if hypothesis.named else hypothesis.text


def marked_skip(plan: Plan, hypothesis: Hypothesis) -> bool:
    """`(skip)` on the line, or the skip list naming it (`- H3 …`)."""
    if "(skip)" in hypothesis.text.lower():
        return True
    for item in plan.skip_items:
        head = item.text.split(maxsplit=1)[0].rstrip(":：.") if item.text.strip() else ""
        if head.upper() == hypothesis.id:
            return True
    return False


def next_hypothesis(plan: Plan, tried: tuple[str, ...]) -> Hypothesis | None:
    """The first open hypothesis in list order: unticked, not marked skip, not yet tried."""
    for hypothesis in plan.hypotheses:
        if hypothesis.done or marked_skip(plan, hypothesis):
            continue
        if hypothesis_key(hypothesis) not in tried:
            return hypothesis
    return None


def describe_loop(max_ticks: int | None, every_s: float | None, cap: float | None) -> str:
    """`max 5, sequential, plan cap $20.00`: what a loop will do, in words."""
    parts = [f"max {max_ticks}" if max_ticks else "until the list is consumed"]
    parts.append(f"a tick at most every {every_s / 60:g} min" if every_s else "one run at a time")
    parts.append(f"plan cap ${cap:.2f}" if cap is not None else "no plan cap")
    return ", ".join(parts)


def parse_duration(text: str) -> float:
    """`90s`, `15m`, `2h` (a bare number is minutes) in seconds; ValueError otherwise."""
    text = text.strip().lower()
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    unit = units.get(text[-1:])
    number = text[:-1] if unit is not None else text
    value = float(number) * (unit if unit is not None else 60.0)
    if value <= 0:
        raise ValueError(f"{text!r} is not a positive duration")
    return value
