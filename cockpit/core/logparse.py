"""Turning raw log bytes into lines, and lines into metric samples.

Training output is messy: tqdm bars redrawn with carriage returns, Python dict reprs, JSON lines,
`key=value` pairs, partial writes, invalid UTF-8. Lines are cut at `MAX_LINE` characters before
any regex sees them, so one pathological line can never stall the supervisor.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import orjson

MAX_LINE = 1000

_PAIR_RE = re.compile(
    r"""(?:^|[\s,{(\[])['"]?(?P<key>[A-Za-z_][\w./-]{0,63})['"]?[:=]\s*"""
    r"""(?P<value>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?nan|[-+]?inf)(?!,\d)(?=$|[\s,})\]])""",
    re.I,
)
_PAIR_HINT = re.compile(r"[:=]\s*[-+.\dnNiI]")
"""What `_PAIR_RE` needs somewhere in a line: searched first, it spares most prose lines the
full pattern (a third of the parse time on a mixed log)."""
_JSON = json.JSONDecoder()
_IGNORED_KEYS = frozenset({"v_num", "local_rank", "rank", "cuda_visible_devices"})


class LineSplitter:
    """Feeds on byte chunks, yields complete lines (decoded, `\\r` redraws collapsed, cut)."""

    def __init__(self) -> None:
        self._pending = b""
        self.piece = False
        """The last `feed` returned a piece of a line without its end (a huge unterminated
        line flushed rather than grown for ever): it ended no line, so numbering must not
        move past it; the rest of that line comes with its newline."""

    def feed(self, chunk: bytes) -> list[str]:
        data = self._pending + chunk
        cut = data.rfind(b"\n")
        self.piece = False
        if cut < 0:
            self._pending = data
            # A line without end that is already huge: flush it rather than grow forever.
            if len(self._pending) > 64 * MAX_LINE:
                self._pending = b""
                self.piece = True
                return [clean_line(data)]
            return []
        self._pending = data[cut + 1 :]
        body = data[:cut]
        if b"\r" in body:
            return [clean_line(raw) for raw in body.split(b"\n")]
        # No redraws: decode once and split (what clean_line does line by line, at C speed;
        # a newline byte is never inside a UTF-8 sequence, so the replacements are the same).
        lines = body.decode("utf-8", errors="replace").split("\n")
        if max(map(len, lines)) > MAX_LINE:
            return [line[:MAX_LINE] for line in lines]
        return lines

    def flush(self) -> list[str]:
        rest, self._pending = self._pending, b""
        return [clean_line(rest)] if rest else []


def clean_line(raw: bytes) -> str:
    """One physical line to what a terminal would finally show: the last `\\r` segment."""
    raw = raw.rstrip(b"\r")
    if b"\r" in raw:
        raw = raw[raw.rfind(b"\r") + 1 :]
    text = raw[: MAX_LINE * 4].decode("utf-8", errors="replace")
    return text[:MAX_LINE]


@dataclass(frozen=True)
class Collected:
    blocks: dict[str, tuple[list[float], list[float]]]
    """key -> (steps, values), in line order."""
    step: float
    """The progress step after the last line (NaN while none is known)."""
    first_bad_loss: int | None
    """Index of the first line whose loss is NaN or infinite."""


class _Samples:
    """Samples being gathered for `MetricParser.collect`, in line order."""

    def __init__(self, progress_key: str, loss_key: str, step: float) -> None:
        self.blocks: dict[str, tuple[list[float], list[float]]] = {}
        self.progress_key, self.loss_key, self.step = progress_key, loss_key, step
        self.first_bad_loss: int | None = None

    def collected(self) -> Collected:
        return Collected(self.blocks, self.step, self.first_bad_loss)

    def add(self, values: dict[str, float], index: int) -> None:
        """One line's values."""
        if not values:
            return
        line_step = values.get(self.progress_key)
        if line_step is not None:
            self.step = line_step
        step, blocks = self.step, self.blocks
        for key, value in values.items():
            block = blocks.get(key)
            if block is None:
                block = blocks[key] = ([], [])
            block[0].append(step)
            block[1].append(value)
        loss = values.get(self.loss_key) if self.first_bad_loss is None else None
        if loss is not None and loss - loss != 0.0:  # NaN or infinite
            self.first_bad_loss = index

    def add_run(
        self,
        run: list[dict[str, object]],
        at: list[int],
        lines: list[str],
        parse: Callable[[str], dict[str, float]],
    ) -> None:
        """JSON objects with the same keys (from the lines at `at`): a column per key when
        every column is all numbers or holds none, else object by object."""
        columns = _number_columns(run) if len(run) >= _MIN_RUN else None
        if columns is None:
            for obj, index in zip(run, at, strict=True):
                self.add(_json_numbers(obj) or parse(lines[index]), index)
            return
        count = len(run)
        steps = columns.get(self.progress_key)
        if steps is None:
            steps = [self.step] * count
        else:
            self.step = steps[-1]
        for key, values in columns.items():  # once per column: setdefault's spare tuple is free
            block_steps, block_values = self.blocks.setdefault(key, ([], []))
            block_steps.extend(steps)
            block_values.extend(values)
        losses = columns.get(self.loss_key)
        if (
            self.first_bad_loss is None
            and losses is not None
            and not all(map(math.isfinite, losses))
        ):
            bad = next(i for i, loss in enumerate(losses) if not math.isfinite(loss))
            self.first_bad_loss = at[bad]


def _number_columns(run: list[dict[str, object]]) -> dict[str, list[float]] | None:
    """The numeric columns of objects with the same keys, as `_json_numbers` would give them
    object by object; None where that cannot be done by column (a column mixing numbers and
    other values, keys that collide once cut, or no number at all, where each line goes on
    to the `key=value` patterns)."""
    columns: dict[str, list[float]] = {}
    for key in run[0]:
        column = [obj[key] for obj in run]
        kinds = set(map(type, column))
        if kinds <= _NUMERIC:
            try:
                values = list(map(float, column))  # type: ignore[arg-type]
            except OverflowError:
                return None  # an integer past float's range: `_json_numbers` says inf
        elif kinds == _STR:
            heads = {value[:1] for value in column}  # type: ignore[index]
            if not any(_may_start_number(head) for head in heads):
                continue  # labels, phases, paths: no value can be a number
            numbers = [_number(value) for value in column]
            if all(number is None for number in numbers):
                continue
            if None in numbers:
                return None
            values = numbers  # type: ignore[assignment]
        elif kinds & _MAYBE_NUMERIC:
            return None
        else:
            continue  # null, true/false, lists, objects: never samples
        cut = key[:64]
        if cut in columns:
            return None
        columns[cut] = values
    return columns or None


_MIN_RUN = 8
"""Fewer objects than this (metric lines between prose lines that have a `:`) are cheaper to
take one by one than by column."""
_RUN = 256
"""Objects taken a column at a time at most: holding a whole batch's objects at once cost more
in allocation than the columns saved."""
_NUMERIC = frozenset({int, float})
_STR = frozenset({str})
_MAYBE_NUMERIC = frozenset({int, float, str})


@dataclass(frozen=True)
class MetricParser:
    """Reads `{"step": 1, "loss": 0.5}`, `{'loss': 0.5}`, `loss=0.5`, `loss: 0.5`, and
    user patterns with named groups."""

    patterns: tuple[re.Pattern[str], ...] = ()

    @classmethod
    def from_config(cls, patterns: Iterable[str]) -> MetricParser:
        return cls(tuple(re.compile(pattern) for pattern in patterns))

    def collect(self, lines: list[str], progress_key: str, loss_key: str, step: float) -> Collected:
        """Every metric sample in `lines`, grouped by key, each with the progress step of its
        line (or the last one before it; NaN while none is known).

        What `parse` finds line by line, faster for the common cases: a line with no `:` or
        `=` (prose) is skipped, and consecutive JSON objects with the same keys (a trainer's
        metric lines) are turned into samples a column at a time, which is most of the
        supervisor's time on a busy log. With user patterns any line may match: every line
        goes through `parse`.
        """
        out = _Samples(progress_key, loss_key, step)
        if self.patterns:
            for index, line in enumerate(lines):
                out.add(self.parse(line), index)
            return out.collected()
        loads, scan, parse = orjson.loads, _JSON.scan_once, self.parse  # type: ignore[attr-defined]
        run: list[dict[str, object]] = []  # consecutive JSON objects with the same keys
        run_at: list[int] = []
        run_keys: object = None
        for index, line in enumerate(lines):
            if line[:1] == "{" and line[-1:] == "}" and len(line) <= MAX_LINE and '"' in line:
                try:
                    obj, end = loads(line), len(line)
                except ValueError:  # not strict JSON; Python's reader also takes NaN, 1e400
                    try:
                        obj, end = scan(line, 0)
                    except (StopIteration, ValueError, RecursionError):
                        obj, end = None, 0
                if end == len(line) and type(obj) is dict and obj:
                    if run and obj.keys() != run_keys:
                        out.add_run(run, run_at, lines, parse)
                        run, run_at = [], []
                    if not run:
                        run_keys = obj.keys()
                    run.append(obj)
                    run_at.append(index)
                    if len(run) >= _RUN:
                        out.add_run(run, run_at, lines, parse)
                        run, run_at = [], []
                    continue
            if ":" not in line and "=" not in line:
                continue  # prose: no samples, and the step stays
            values = parse(line)
            if not values:
                continue  # nor here: the run of JSON objects goes on
            if run:
                out.add_run(run, run_at, lines, parse)
                run, run_at = [], []
            out.add(values, index)
        if run:
            out.add_run(run, run_at, lines, parse)
        return out.collected()

    def parse(self, line: str) -> dict[str, float]:
        line = line[:MAX_LINE]
        found: dict[str, float] = {}
        stripped = line.strip()
        if stripped[:1] == "{" and stripped[-1:] == "}" and '"' in stripped:
            obj = _json_object(stripped)
            if obj is not None:
                found = _json_numbers(obj)
        if not found and _PAIR_HINT.search(line):
            for match in _PAIR_RE.finditer(line):
                key = match["key"]
                if key.lower() in _IGNORED_KEYS:
                    continue
                number = _number(match["value"])
                if number is not None:
                    found[key] = number
        for pattern in self.patterns:
            for match in pattern.finditer(line):
                groups = match.groupdict()
                if "key" in groups and "value" in groups:
                    number = _number(groups["value"])
                    if number is not None and groups["key"]:
                        found[groups["key"]] = number
                    continue
                for key, raw in groups.items():
                    number = _number(raw)
                    if number is not None:
                        found[key] = number
        return found


def _json_object(text: str) -> dict[str, object] | None:
    """`text` as a JSON object, or None. orjson reads strict JSON ~2.5x faster than Python's
    reader, and where it refuses (NaN, Infinity, 1e400, lone surrogates) Python's reader
    decides, so what is read is what `json.loads` would read."""
    try:
        obj = orjson.loads(text)
    except ValueError:
        try:
            obj, end = _JSON.raw_decode(text)
        except (ValueError, RecursionError):
            return None
        if end != len(text):
            return None
    return obj if type(obj) is dict else None


def _json_numbers(obj: dict[str, object]) -> dict[str, float]:
    """The numbers of a JSON object (numeric strings too), keys cut at 64 characters."""
    found: dict[str, float] = {}
    for key, value in obj.items():  # JSON keys are always strings
        kind = type(value)
        if kind is float:
            found[key[:64]] = value  # type: ignore[assignment]
        elif kind is int:
            found[key[:64]] = _float(value)  # type: ignore[arg-type]
        elif kind is str and (number := _number(value)) is not None:
            found[key[:64]] = number
    return found


def _number(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return _float(value)
    if isinstance(value, str):
        # Most strings are not numbers, and a failed float() (an exception) costs ~1 us.
        if not _may_start_number(value[:1]):
            return None
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _float(value: float) -> float:
    """`float(value)`, with an integer past float's range as infinity (as `float("1e999")`),
    not an `OverflowError` that would stop the log's ingest."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


_NUMBER_HEADS = frozenset("0123456789+-.nNiI")
"""What a string float() accepts can start with (besides whitespace and Unicode digits)."""


def _may_start_number(head: str) -> bool:
    """Whether a string starting with the character `head` may be one `float()` accepts."""
    return bool(head) and (head in _NUMBER_HEADS or head.isspace() or head.isdecimal())
