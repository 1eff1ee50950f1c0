"""The plan parser: formats in use, flags, byte-exact write-back, errors that name the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from cockpit.core.plan import (
    PlanError,
    SkipFlag,
    append_log_row,
    discover_plans,
    load_plan,
    parse_plan,
    set_state,
)
from tests.conftest import SAMPLES

JAPANESE = SAMPLES / "plans" / "imitation-case1.md"
ENGLISH = SAMPLES / "plans" / "rulebase-case2.md"


def test_japanese_plan() -> None:
    plan = load_plan(JAPANESE)
    assert plan.title.startswith("imitation/case1")
    assert plan.state == "in_progress"
    assert [h.id for h in plan.hypotheses] == ["H1", "H2", "H3", "H4"]
    assert plan.hypotheses[0].done and not plan.hypotheses[1].done
    h3 = plan.hypothesis("H3")
    assert h3 is not None
    assert h3.cap == 15.0
    assert str(h3.threshold) == "val_loss <= 1.2"
    assert h3.threshold is not None and h3.threshold.holds(1.1)
    assert SkipFlag.SMOKE in plan.flags
    # Lines cockpit has no flag for are kept, never dropped.
    unflagged = [item.text for item in plan.skip_items if not item.flags]
    assert any("replay" in text for text in unflagged)
    assert plan.log_columns[0] == "iter" and len(plan.log_columns) == 9
    assert len(plan.log_rows) == 2 and plan.log_rows[1][6] == "失敗"


def test_english_plan_flags_and_caps() -> None:
    plan = load_plan(ENGLISH)
    assert plan.state == "in_progress"
    assert plan.hypothesis("H1") is not None and plan.hypothesis("H1").cap == 8.0  # type: ignore[union-attr]
    assert {SkipFlag.LOCAL_ONLY, SkipFlag.MONITOR_ONLY, SkipFlag.EVAL_REDUCED} <= plan.flags
    assert plan.log_rows == ()


@pytest.mark.parametrize(
    ("line", "flags"),
    [
        ("smoke test (1-episode self-play) を skip", {SkipFlag.SMOKE}),
        ("RunPod 不使用", {SkipFlag.LOCAL_ONLY}),
        ("no-cloud", {SkipFlag.LOCAL_ONLY}),
        ("auto-recover 不使用", {SkipFlag.MONITOR_ONLY}),
        ("auto-recover: not used", {SkipFlag.MONITOR_ONLY}),
        ("unit tests: skip", {SkipFlag.TESTS}),
        ("テスト を skip", {SkipFlag.TESTS}),
        ("評価は 100 局のみ", {SkipFlag.EVAL_REDUCED}),
        ("we will not paint the shed", set()),
    ],
)
def test_skip_flags_in_both_languages(line: str, flags: set[SkipFlag]) -> None:
    plan = parse_plan(f"# t\n## Skip list\n- {line}\n")
    assert set(plan.skip_items[0].flags) == flags
    assert plan.skip_items[0].text == line


def test_ids_from_prefix_or_position() -> None:
    plan = parse_plan("# t\n## Hypotheses\n- [ ] first\n- [ ] H7: seventh\n- [x] third\n")
    assert [h.id for h in plan.hypotheses] == ["H1", "H7", "H3"]
    assert plan.hypotheses[1].text == "seventh"


def _all_variants() -> list[tuple[str, str]]:
    japanese = JAPANESE.read_text(encoding="utf-8")
    english = ENGLISH.read_text(encoding="utf-8")
    return [
        ("japanese", japanese),
        ("english", english),
        ("crlf", english.replace("\n", "\r\n")),
        ("no-final-newline", japanese.rstrip("\n")),
        ("empty-log", "# x\nState: paused\n## Iteration log\n| a | b |\n|---|---|"),
    ]


@pytest.mark.parametrize(("name", "text"), _all_variants())
def test_round_trip_is_byte_identical(name: str, text: str, tmp_path: Path) -> None:
    path = tmp_path / "hypotheses.md"
    path.write_bytes(text.encode("utf-8"))
    plan = load_plan(path)
    assert plan.render().encode("utf-8") == path.read_bytes()


@pytest.mark.parametrize(("name", "text"), _all_variants())
def test_append_row_changes_only_the_new_row(name: str, text: str) -> None:
    plan = parse_plan(text)
    cells = {col: f"v{index}" for index, col in enumerate(plan.log_columns)}
    cells[plan.log_columns[0]] = "3 | pipe"
    updated = append_log_row(plan, cells)
    newline = "\r\n" if "\r\n" in text else "\n"
    # Removing the new row gives back the original bytes (modulo an added final newline).
    row_start = updated.index("| 3 \\| pipe")
    row_end = updated.index(newline, row_start) + len(newline)
    rest = updated[:row_start] + updated[row_end:]
    assert rest == text or rest == text + newline
    reparsed = parse_plan(updated)
    assert len(reparsed.log_rows) == len(plan.log_rows) + 1
    assert reparsed.log_rows[-1][0] == "3 \\| pipe"


def test_set_state_changes_only_the_value() -> None:
    text = JAPANESE.read_text(encoding="utf-8")
    plan = parse_plan(text)
    updated = set_state(plan, "paused")
    assert updated == text.replace("状態: in_progress", "状態: paused", 1)
    assert parse_plan(updated).state == "paused"


def test_a_hypothesis_says_how_many_gpus_its_run_asks_for() -> None:
    plan = parse_plan("# t\n## Hypotheses\n- [ ] H1: big (gpus: 2) (cap: $20)\n- [ ] H2: small\n")
    assert [h.gpus for h in plan.hypotheses] == [2, None]
    assert plan.hypotheses[0].cap == 20.0


def test_set_state_adds_a_header_when_missing() -> None:
    plan = parse_plan("# title\n## Hypotheses\n- [ ] H1: x\n")
    assert set_state(plan, "stopped") == "# title\nState: stopped\n## Hypotheses\n- [ ] H1: x\n"


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("# t\n状態: running\n", 2, "unknown state"),
        ("# t\n## Hypotheses\n- [ ] H1: a\n- [?] H2: b\n", 4, "checkbox"),
        ("# t\n## Hypotheses\n- [ ] H1: a\n- [ ] H1: b\n", 4, "already used on line 3"),
        ("# t\n## Iteration log\n| a | b |\n|---|---|\n| 1 |\n", 5, "1 cells"),
        ("# t\n## Hypotheses\n- [ ] H1: a (threshold: good)\n", 3, "threshold"),
        ("# t\n## Hypotheses\n- [ ] H1: a (cap: lots)\n", 3, "cap"),
        ("# t\n## Hypotheses\n- [ ] H1: a (gpus: two)\n", 3, "gpus must read like (gpus: 2)"),
    ],
)
def test_malformed_plans_name_the_line(text: str, line: int, words: str) -> None:
    with pytest.raises(PlanError) as info:
        parse_plan(text, "plan.md")
    assert info.value.line == line
    assert words in info.value.message
    assert str(info.value).startswith(f"plan.md:{line}:")


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "hypotheses.md"
    path.write_bytes(b"# t\n## Hypotheses\n- [ ] H1: \xff\xfe\n")
    with pytest.raises(PlanError) as info:
        load_plan(path)
    assert info.value.line == 3


def test_glob_discovers_several_plans(tmp_path: Path) -> None:
    for case in ("a/case1", "a/case2", "b/case1"):
        (tmp_path / "docs" / case).mkdir(parents=True)
        (tmp_path / "docs" / case / "hypotheses.md").write_text("# x\n")
    found = discover_plans(tmp_path, "docs/*/*/hypotheses.md")
    assert [str(p.relative_to(tmp_path)) for p in found] == [
        "docs/a/case1/hypotheses.md",
        "docs/a/case2/hypotheses.md",
        "docs/b/case1/hypotheses.md",
    ]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("(expected: 90m)", 5400.0),
        ("(expected: 2h)", 7200.0),
        ("(expected: 45)", 2700.0),
        ("(expected: 30s)", 30.0),
        ("", None),
    ],
)
def test_expected_duration(text: str, seconds: float | None) -> None:
    plan = parse_plan(f"# t\n## Hypotheses\n- [ ] H1: idea {text}\n")
    assert plan.hypotheses[0].expected_s == seconds


def test_bad_expected_duration_names_the_line() -> None:
    with pytest.raises(PlanError, match=r":3: expected must read like"):
        parse_plan("# t\n## Hypotheses\n- [ ] H1: idea (expected: soon)\n", "p.md")


def test_planbook_sees_an_edit_made_after_its_read(tmp_path: Path) -> None:
    """The UI starts its file watcher after the first frame; an edit in between is caught."""
    from cockpit.core.planbook import PlanBook

    plan = tmp_path / "hypotheses.md"
    plan.write_text(ENGLISH.read_text(encoding="utf-8"), encoding="utf-8")
    book = PlanBook(tmp_path, "hypotheses.md")
    book.reload()
    assert not book.edited_since_read()
    plan.write_text(plan.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert book.edited_since_read()
    book.reload()
    assert not book.edited_since_read()
