"""Which hypothesis of a plan a run belongs to.

A run keeps the hypothesis line it was launched for (its text). The id of a line without an
`H<n>:` prefix is only its position, which moves when a line is added or removed above it, so
write-back, the health rules, the guards and the plan list find a run's hypothesis by that text;
a line that names its id is found by the id.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from cockpit.core.plan import Hypothesis, Plan, PlanError, parse_hypothesis


def launched_hypothesis(plan: Plan | None, hyp_id: str, text: str | None) -> Located:
    """The hypothesis a run was launched for, as it was launched (text, threshold, cap), with
    the id and line it has in the plan now. Found by its text, since the id of an unprefixed
    line is its position, which moves when a line is inserted above; a line that names its id
    is found by the id even when its text was edited. Runs from before the text was kept
    (`text` None) are found by id."""
    current = plan.hypothesis(hyp_id) if plan is not None else None
    if text is None or (current is not None and current.text == text):
        return Located(current, current is not None, "")
    path = plan.path if plan is not None else Path("hypotheses.md")
    try:
        kept = parse_hypothesis(hyp_id, text, False, 0, path)
    except PlanError:
        kept = Hypothesis(hyp_id, text, False, 0)
    if current is not None and current.named:  # its own name: the text was edited
        note = f"{hyp_id}'s text was edited since launch; judged as launched"
        return Located(replace(kept, done=current.done, line=current.line), True, note)
    for item in plan.hypotheses if plan is not None else ():
        if item.text == text and not item.named:
            note = f"{hyp_id} at launch, {item.id} now (lines were added or removed above it)"
            return Located(item, True, note)
    return Located(
        kept, False, f"{hyp_id} as launched (“{text}”) is no longer in the plan: edited or removed"
    )


def is_run_of(hypothesis: Hypothesis, run_id: str, run_text: str | None) -> bool:
    """Whether a run launched for (`run_id`, `run_text`) is a run of `hypothesis` as the plan
    has it now: the same text, or the same named id (an unprefixed id is only a position)."""
    if run_text is None or hypothesis.named:
        return run_id.lower() == hypothesis.id.lower()
    return run_text == hypothesis.text


@dataclass(frozen=True)
class Located:
    hypothesis: Hypothesis | None
    """The plan's line, or what the run kept of it when the plan no longer has it."""
    in_plan: bool
    note: str
    """Why the hypothesis is not where or what its id says, in words; empty when it is."""
