"""Typed settings tables: dataclasses checked against TOML values, every problem named by key.

`cockpit.toml`'s tables are plain dataclasses (`core.config`, `core.config_backends`);
`validate(Table, values)` turns the parsed TOML (plus environment strings) into them, the way
pydantic did, in the standard library alone. pydantic and its model building cost ~100 ms of
every command's start-up (a third of `cockpit watch` to its first screen), for a dozen tables.

What a field's annotation may be: `str`, `int`, `float`, `bool`, a `Literal`, `X | None`,
`list[X]`, `dict[str, X]`, another table, a `Tagged` union of tables, and `Annotated[X,
Range(...)]` for bounds. Strings convert to numbers and booleans (environment variables are
strings); nothing else converts. A table checks a field further with a static method
`check_<field>(value)` that returns the value or raises `ValueError` with the message.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

T = TypeVar("T")

_MISSING = dataclasses.MISSING
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


class SettingsError(Exception):
    """Every problem found, each as (dotted key, message)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{key}: {message}" for key, message in problems))
        self.problems = problems


@dataclass(frozen=True)
class Range:
    """Bounds on a number: `Annotated[float, Range(gt=0, le=60)]`."""

    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None

    def problem(self, value: float) -> str | None:
        for bound, holds, words in (
            (self.gt, lambda b: value > b, "greater than"),
            (self.ge, lambda b: value >= b, "greater than or equal to"),
            (self.lt, lambda b: value < b, "less than"),
            (self.le, lambda b: value <= b, "less than or equal to"),
        ):
            if bound is not None and not holds(bound):
                return f"must be {words} {bound:g}"
        return None


@dataclass(frozen=True)
class Tagged:
    """A union of tables told apart by one key: `Annotated[A | B, Tagged("kind", "a")]`.

    Each table's tag field is a `Literal` of its tag; a value without the key takes `default`.
    """

    key: str
    default: str
    what: str = "kind"


def validate(table: type[T], values: object, prefix: str = "") -> T:
    """`values` (parsed TOML) as a `table`, or `SettingsError` naming every bad key."""
    problems: list[tuple[str, str]] = []
    result = _table(table, values, prefix, problems)
    if problems:
        raise SettingsError(problems)
    return typing.cast(T, result)


def fields(table: type) -> dict[str, Any]:
    """A table's field names and their resolved annotations, in declaration order."""
    cached: dict[str, Any] | None = table.__dict__.get("_settings_hints")
    if cached is None:
        hints = typing.get_type_hints(table, include_extras=True)
        cached = {field.name: hints[field.name] for field in dataclasses.fields(table)}
        table._settings_hints = cached  # type: ignore[attr-defined]
    return cached


def default_of(field: dataclasses.Field[Any]) -> Any:
    """A field's default value (a fresh one for a factory), or `dataclasses.MISSING`."""
    if field.default is not _MISSING:
        return field.default
    if field.default_factory is not _MISSING:
        return field.default_factory()
    return _MISSING


def unwrap(annotation: Any) -> Any:
    """The annotation without its `Annotated` extras."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = annotation.__origin__
    return annotation


def is_table(annotation: Any) -> bool:
    return isinstance(annotation, type) and dataclasses.is_dataclass(annotation)


def _join(prefix: str, key: object) -> str:
    return f"{prefix}.{key}" if prefix else str(key)


def _table(table: type, values: object, at: str, problems: list[tuple[str, str]]) -> Any:
    if not isinstance(values, dict):
        problems.append((at, f"must be a table, not {_kind(values)}"))
        return None
    hints = fields(table)
    for key in values:
        if key not in hints:
            problems.append((_join(at, key), "unknown key (a typo?)"))
    kwargs: dict[str, Any] = {}
    before = len(problems)
    for field in dataclasses.fields(table):
        where = _join(at, field.name)
        if field.name not in values:
            if field.default is _MISSING and field.default_factory is _MISSING:
                problems.append((where, "required"))
            continue
        field_before = len(problems)
        value = _convert(hints[field.name], values[field.name], where, problems)
        check = getattr(table, f"check_{field.name}", None)
        if check is not None and len(problems) == field_before:
            try:
                value = check(value)
            except ValueError as exc:
                problems.append((where, str(exc)))
        kwargs[field.name] = value
    return table(**kwargs) if len(problems) == before else None


def _convert(annotation: Any, value: Any, at: str, problems: list[tuple[str, str]]) -> Any:
    extras: tuple[Any, ...] = ()
    if typing.get_origin(annotation) is typing.Annotated:
        extras = annotation.__metadata__
        annotation = annotation.__origin__
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    tagged = next((extra for extra in extras if isinstance(extra, Tagged)), None)
    if tagged is not None:
        return _tagged(args, tagged, value, at, problems)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        others = [arg for arg in args if arg is not type(None)]
        if len(others) != 1:
            raise TypeError(f"{at}: untagged unions of {others} are not supported")
        annotation = others[0]  # `X | None` with a value: an X, bounds and all
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal:
        if value in args and type(value) in {type(arg) for arg in args}:
            return value
        choices = ", ".join(repr(arg) for arg in args)
        problems.append((at, f"must be one of {choices}, not {value!r}"))
        return None
    if origin is list:
        if not isinstance(value, list):
            problems.append((at, f"must be a list, not {_kind(value)}"))
            return None
        return [_convert(args[0], item, _join(at, i), problems) for i, item in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            problems.append((at, f"must be a table, not {_kind(value)}"))
            return None
        return {key: _convert(args[1], v, _join(at, key), problems) for key, v in value.items()}
    if is_table(annotation):
        return _table(annotation, value, at, problems)
    converted = _scalar(annotation, value)
    if converted is None:
        problems.append((at, f"must be {_NAMES[annotation]}, not {_kind(value)} {value!r}"))
        return None
    for extra in extras:
        if isinstance(extra, Range) and (problem := extra.problem(converted)):
            problems.append((at, problem))
            return None
    return converted


_NAMES = {str: "a string", int: "a whole number", float: "a number", bool: "true or false"}


def _scalar(annotation: Any, value: Any) -> Any:
    """`value` as the scalar type, or None where it is not one (strings from the environment
    convert)."""
    if annotation is str:
        return value if isinstance(value, str) else None
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        return None
    if annotation not in (int, float):
        raise TypeError(f"unsupported setting type {annotation!r}")
    if isinstance(value, bool):
        return None  # `true` is not a number
    if isinstance(value, str):
        try:
            return annotation(value.strip())
        except ValueError:
            return None
    if annotation is int and isinstance(value, float):
        return int(value) if value.is_integer() else None
    return annotation(value) if isinstance(value, int | float) else None


def _tagged(
    members: tuple[Any, ...], tagged: Tagged, value: Any, at: str, problems: list[tuple[str, str]]
) -> Any:
    by_tag = {typing.get_args(unwrap(fields(member)[tagged.key]))[0]: member for member in members}
    if not isinstance(value, dict):
        problems.append((at, f"must be a table, not {_kind(value)}"))
        return None
    tag = value.get(tagged.key, tagged.default)
    if tag not in by_tag:
        known = ", ".join(sorted(by_tag))
        problems.append((_join(at, tagged.key), f"unknown {tagged.what} {tag!r} (known: {known})"))
        return None
    return _table(by_tag[tag], value, at, problems)


def _kind(value: object) -> str:
    return {
        dict: "a table",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }.get(type(value), type(value).__name__)
