"""The researcher's plan file, `hypotheses.md`: parsed for display, edited byte-exactly.

The file belongs to the researcher, so the parser never normalises it. A `Plan` keeps the raw text
and the line numbers of what it found; write-back functions (`append_log_row`, `set_state`) splice
new bytes into the original text and touch nothing else. Parsing and rendering an unedited file
gives back the very same bytes.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

STATES = ("in_progress", "paused", "stopped", "completed")

_STATE_RE = re.compile(
    r"^(?P<label>状態|ステータス|State|Status)\s*[:：]\s*(?P<value>\S*)\s*$", re.I
)
_HEADING_RE = re.compile(r"^(?P<hashes>#{1,6})\s+(?P<text>.*?)\s*#*\s*$")
_CHECKBOX_RE = re.compile(r"^\s*[-*+]\s+\[(?P<mark>[^\]]?)\]\s*(?P<body>.*?)\s*$")
_BULLET_RE = re.compile(r"^\s*[-*+]\s+(?P<body>.*?)\s*$")
_ID_RE = re.compile(r"^(?P<id>H\d+[a-z]?)\s*[:：.]\s*", re.I)
_THRESHOLD_RE = re.compile(
    r"\(threshold\s*[:：]\s*(?P<metric>[A-Za-z_][\w./-]*)\s*(?P<op>>=|<=|==|>|<)\s*"
    r"(?P<value>[-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)\s*\)",
    re.I,
)
_GPUS_RE = re.compile(r"\(gpus\s*[:：]\s*(?P<value>\d+)\s*\)", re.I)
_CAP_RE = re.compile(r"\(cap\s*[:：]\s*\$?\s*(?P<value>\d+(?:\.\d*)?)\s*\)", re.I)
_EXPECTED_RE = re.compile(
    r"\(expected\s*[:：]\s*(?P<value>\d+(?:\.\d*)?)\s*(?P<unit>s|sec|m|min|h|hr|hours?)?\s*\)", re.I
)
_UNIT_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600}


class SectionKind(enum.Enum):
    HYPOTHESES = "hypotheses"
    SKIP = "skip"
    LOG = "log"
    OTHER = "other"


_SECTION_WORDS: list[tuple[SectionKind, re.Pattern[str]]] = [
    (SectionKind.HYPOTHESES, re.compile(r"hypothes|仮説", re.I)),
    (SectionKind.SKIP, re.compile(r"skip|実施しない|will not verify|not verif|やらない", re.I)),
    (SectionKind.LOG, re.compile(r"iteration|イテレーション|実験ログ|run log", re.I)),
]


class SkipFlag(enum.StrEnum):
    """What a skip-list line tells cockpit to do differently."""

    SMOKE = "smoke-skip"
    """No smoke test before launch."""
    TESTS = "tests-skip"
    """No test command before launch."""
    LOCAL_ONLY = "local-only"
    """No cloud backend: RunPod (or any cloud) is not used."""
    MONITOR_ONLY = "monitor-only"
    """No auto-recover: failures are reported, never relaunched."""
    EVAL_REDUCED = "eval-reduced"
    """Evaluation is reduced (fewer episodes, no verdict below some n)."""


_NOT_USED = r"(不使用|使わない|使用しない|なし|not used|unused|disabled|off|none|no\b)"
_FLAG_RULES: list[tuple[SkipFlag, re.Pattern[str]]] = [
    (SkipFlag.SMOKE, re.compile(r"smoke|スモーク", re.I)),
    (
        SkipFlag.LOCAL_ONLY,
        re.compile(
            rf"(runpod|cloud|クラウド).*{_NOT_USED}|no[- ]cloud|local\s+only|ローカルのみ", re.I
        ),
    ),
    (
        SkipFlag.MONITOR_ONLY,
        re.compile(rf"(auto[- ]?recover|自動復旧|自動リカバリ).*{_NOT_USED}|monitor[- ]only", re.I),
    ),
    (SkipFlag.TESTS, re.compile(r"\b(unit\s+)?tests?\b|テスト|pytest", re.I)),
    (SkipFlag.EVAL_REDUCED, re.compile(r"evaluation|eval\b|評価|episodes?|対戦", re.I)),
]


class PlanError(Exception):
    """A malformed plan: names the file, the 1-based line and what is wrong."""

    def __init__(self, path: Path | str, line: int, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        super().__init__(f"{self.path}:{line}: {message}")


@dataclass(frozen=True)
class Threshold:
    metric: str
    op: str
    value: float

    def holds(self, observed: float) -> bool:
        return {
            ">=": observed >= self.value,
            "<=": observed <= self.value,
            ">": observed > self.value,
            "<": observed < self.value,
            "==": observed == self.value,
        }[self.op]

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"


@dataclass(frozen=True)
class Hypothesis:
    id: str
    text: str
    """The line's text after the checkbox and the id prefix."""
    done: bool
    line: int
    """1-based line number in the file."""
    threshold: Threshold | None = None
    cap: float | None = None
    """A per-hypothesis cost cap in dollars, from `(cap: $N)`."""
    expected_s: float | None = None
    """How long a run should take, from `(expected: 90m)` (s, m or h; minutes by default)."""
    named: bool = False
    """The line names its id (`H3: ...`); otherwise the id is the line's position."""
    gpus: int | None = None
    """GPUs its run asks for, from `(gpus: 2)` (unset: the config's `gpus_per_run`)."""


@dataclass(frozen=True)
class SkipItem:
    text: str
    line: int
    flags: frozenset[SkipFlag]


@dataclass(frozen=True)
class Plan:
    path: Path
    text: str
    title: str
    state: str | None
    state_line: int | None
    hypotheses: tuple[Hypothesis, ...]
    skip_items: tuple[SkipItem, ...]
    log_columns: tuple[str, ...]
    log_rows: tuple[tuple[str, ...], ...]
    log_end_line: int | None = None
    """Line (1-based) after which a new iteration-log row goes."""
    newline: str = "\n"
    flags: frozenset[SkipFlag] = field(default_factory=frozenset)

    def hypothesis(self, hypothesis_id: str) -> Hypothesis | None:
        for item in self.hypotheses:
            if item.id.lower() == hypothesis_id.lower():
                return item
        return None

    def render(self) -> str:
        return self.text


def load_plan(path: Path) -> Plan:
    """Read and parse a plan file; raises PlanError (with the line) or OSError."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise PlanError(path, line, "not valid UTF-8") from exc
    return parse_plan(text, path)


def _split_lines(text: str) -> list[str]:
    """Lines with their endings kept; only '\\n' ends a line (CR stays inside)."""
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def _strip_eol(line: str) -> str:
    return line.rstrip("\n").rstrip("\r")


def _table_cells(line: str) -> list[str]:
    body = line.strip()
    if body.startswith("|"):
        body = body[1:]
    if body.endswith("|") and not body.endswith("\\|"):
        body = body[:-1]
    cells = re.split(r"(?<!\\)\|", body)
    return [cell.strip() for cell in cells]


def parse_plan(text: str, path: Path | str = "hypotheses.md") -> Plan:
    """Parse a plan's text. Raises PlanError naming the line of the first problem."""
    path = Path(path)
    lines = _split_lines(text)
    newline = "\r\n" if "\r\n" in text else "\n"
    title = ""
    state: str | None = None
    state_line: int | None = None
    section = SectionKind.OTHER
    hypotheses: list[Hypothesis] = []
    skip_items: list[SkipItem] = []
    log_columns: tuple[str, ...] = ()
    log_rows: list[tuple[str, ...]] = []
    log_end: int | None = None
    seen_ids: dict[str, int] = {}
    position = 0
    in_fence = False

    for number, raw in enumerate(lines, start=1):
        line = _strip_eol(raw)
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        heading = _HEADING_RE.match(line)
        if heading:
            level = len(heading["hashes"])
            if level == 1 and not title:
                title = heading["text"]
                continue
            if level == 2:
                section = SectionKind.OTHER
                for kind, pattern in _SECTION_WORDS:
                    if pattern.search(heading["text"]):
                        section = kind
                        break
                continue
        match = _STATE_RE.match(line)
        if match and state is None and section is not SectionKind.LOG:
            value = match["value"]
            if value not in STATES:
                raise PlanError(
                    path, number, f"unknown state {value!r}; expected one of {', '.join(STATES)}"
                )
            state, state_line = value, number
            continue
        if section is SectionKind.HYPOTHESES:
            box = _CHECKBOX_RE.match(line)
            if not box:
                continue
            mark = box["mark"]
            if mark not in (" ", "x", "X", ""):
                raise PlanError(path, number, f"checkbox [{mark}] must be [ ] or [x]")
            position += 1
            body = box["body"]
            id_match = _ID_RE.match(body)
            named = id_match is not None
            if id_match:
                hyp_id = id_match["id"].upper()
                body = body[id_match.end() :]
            else:
                hyp_id = f"H{position}"
            if hyp_id in seen_ids:
                raise PlanError(
                    path, number, f"hypothesis id {hyp_id} already used on line {seen_ids[hyp_id]}"
                )
            seen_ids[hyp_id] = number
            hypotheses.append(
                replace(
                    parse_hypothesis(hyp_id, body, mark in ("x", "X"), number, path), named=named
                )
            )
        elif section is SectionKind.SKIP:
            bullet = _BULLET_RE.match(line)
            if bullet and bullet["body"]:
                skip_items.append(SkipItem(bullet["body"], number, _flags_of(bullet["body"])))
        elif section is SectionKind.LOG and line.strip().startswith("|"):
            cells = _table_cells(line)
            if not log_columns:
                log_columns = tuple(cells)
            elif all(re.fullmatch(r":?-{2,}:?", cell) for cell in cells if cell):
                pass  # the separator row
            else:
                if len(cells) != len(log_columns):
                    raise PlanError(
                        path,
                        number,
                        f"iteration-log row has {len(cells)} cells, the header has "
                        f"{len(log_columns)}",
                    )
                log_rows.append(tuple(cells))
            log_end = number

    flags: frozenset[SkipFlag] = frozenset().union(*(item.flags for item in skip_items))
    return Plan(
        path=path,
        text=text,
        title=title or path.parent.name,
        state=state,
        state_line=state_line,
        hypotheses=tuple(hypotheses),
        skip_items=tuple(skip_items),
        log_columns=log_columns,
        log_rows=tuple(log_rows),
        log_end_line=log_end,
        newline=newline,
        flags=flags,
    )


def parse_hypothesis(hyp_id: str, body: str, done: bool, number: int, path: Path) -> Hypothesis:
    """One hypothesis line's text after its id: threshold, cap and expected time read from it."""
    threshold = None
    if found := _THRESHOLD_RE.search(body):
        threshold = Threshold(found["metric"], found["op"], float(found["value"]))
    elif re.search(r"\(threshold\s*[:：]", body, re.I):
        raise PlanError(path, number, "threshold must read like (threshold: win_rate >= 0.55)")
    cap = None
    if found := _CAP_RE.search(body):
        cap = float(found["value"])
    elif re.search(r"\(cap\s*[:：]", body, re.I):
        raise PlanError(path, number, "cap must read like (cap: $20)")
    expected = None
    if found := _EXPECTED_RE.search(body):
        unit = (found["unit"] or "m").lower()
        expected = float(found["value"]) * _UNIT_SECONDS.get(unit, 3600)
    elif re.search(r"\(expected\s*[:：]", body, re.I):
        raise PlanError(path, number, "expected must read like (expected: 90m)")
    gpus = None
    if found := _GPUS_RE.search(body):
        gpus = int(found["value"])
    elif re.search(r"\(gpus\s*[:：]", body, re.I):
        raise PlanError(path, number, "gpus must read like (gpus: 2)")
    return Hypothesis(hyp_id, body, done, number, threshold, cap, expected, gpus=gpus)


def _flags_of(text: str) -> frozenset[SkipFlag]:
    found: set[SkipFlag] = set()
    for flag, pattern in _FLAG_RULES:
        if flag in (SkipFlag.TESTS, SkipFlag.EVAL_REDUCED) and SkipFlag.SMOKE in found:
            continue  # "smoke test (1-episode) を skip" is about the smoke test only
        if pattern.search(text):
            found.add(flag)
    return frozenset(found)


def _escape_cell(value: str) -> str:
    return value.replace("\r", " ").replace("\n", " ").replace("|", "\\|").strip() or "—"


def append_log_row(plan: Plan, cells: dict[str, str]) -> str:
    """The plan's text with one iteration-log row appended, in the file's column order.

    Only the new row's bytes (and a line ending if the last line had none) are added.
    """
    at, inserted = log_row_insertion(plan, cells)
    return plan.text[:at] + inserted + plan.text[at:]


def log_row_insertion(plan: Plan, cells: dict[str, str]) -> tuple[int, str]:
    """Where (a character offset) and what to insert to add one iteration-log row."""
    if not plan.log_columns or plan.log_end_line is None:
        raise PlanError(plan.path, 1, "no iteration-log table to append to")
    row = "| " + " | ".join(_escape_cell(cells.get(col, "")) for col in plan.log_columns) + " |"
    lines = _split_lines(plan.text)
    before = "".join(lines[: plan.log_end_line])  # insert after this 1-based line
    lead = plan.newline if before and not before.endswith("\n") else ""
    return len(before), lead + row + plan.newline


def set_state(plan: Plan, new_state: str) -> str:
    """The plan's text with the state header's value replaced (or added after the title)."""
    if new_state not in STATES:
        raise ValueError(f"unknown state {new_state!r}")
    lines = _split_lines(plan.text)
    if plan.state_line is None:
        insert_at = 0
        for index, line in enumerate(lines):
            if line.startswith("# "):
                insert_at = index + 1
                break
        new_line = f"State: {new_state}{plan.newline}"
        if insert_at and not lines[insert_at - 1].endswith("\n"):
            lines[insert_at - 1] += plan.newline
        lines.insert(insert_at, new_line)
        return "".join(lines)
    raw = lines[plan.state_line - 1]
    match = _STATE_RE.match(_strip_eol(raw))
    assert match is not None
    start, end = match.span("value")
    lines[plan.state_line - 1] = raw[:start] + new_state + raw[end:]
    return "".join(lines)


def discover_plans(project: Path, pattern: str) -> list[Path]:
    """Plan files matching the config's path or glob, relative to the project, sorted."""
    if any(char in pattern for char in "*?["):
        return sorted(path for path in project.glob(pattern) if path.is_file())
    path = project / pattern
    return [path]
