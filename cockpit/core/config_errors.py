"""pydantic's validation errors said in plain words, each with the dotted key it is about.

pydantic names a problem by its location and a message written for programmers ("Value error,
…", "Input should be a valid number, unable to parse string as a number"). A researcher editing
cockpit.toml needs the key as they wrote it (`backends.box.port`, not `backends.box.ssh.port`:
the tag of the backend union is pydantic's, not theirs) and what to write instead.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

_BACKEND_TAGS = frozenset({"local", "ssh", "runpod"})

_TYPES = {
    "string_type": "a string",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
}

_BOUNDS = {
    "greater_than": ("greater than", "gt"),
    "greater_than_equal": ("greater than or equal to", "ge"),
    "less_than": ("less than", "lt"),
    "less_than_equal": ("less than or equal to", "le"),
}


def problems_of(error: ValidationError) -> list[tuple[str, str]]:
    """Every problem in `error` as (dotted key, plain message), in pydantic's order (the order
    of the tables and their fields), each key once."""
    found: dict[str, str] = {}
    for detail in error.errors(include_url=False):
        key, message = _key(detail), _message(detail)
        if key in found and message in found[key]:
            continue
        found[key] = f"{found[key]}; {message}" if key in found else message
    return list(found.items())


def _key(detail: ErrorDetails) -> str:
    parts = [str(part) for part in detail["loc"]]
    if len(parts) > 2 and parts[0] == "backends" and parts[2] in _BACKEND_TAGS:
        del parts[2]  # the union member pydantic tried, not a key of the file
    if detail["type"] == "union_tag_invalid":
        parts.append("kind")
    return ".".join(parts)


def _message(detail: ErrorDetails) -> str:
    kind = detail["type"]
    value = detail.get("input")
    context: dict[str, Any] = dict(detail.get("ctx") or {})
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return "unknown key (a typo?)"
    if kind in _TYPES:
        return f"must be {_TYPES[kind]}, not {_described(value)}"
    if kind in _BOUNDS:
        words, bound = _BOUNDS[kind]
        return f"must be {words} {context[bound]}"
    if kind == "literal_error":
        return f"must be one of {context['expected']}, not {value!r}"
    if kind == "union_tag_invalid":
        known = ", ".join(sorted(_BACKEND_TAGS))
        tag = value.get("kind") if isinstance(value, dict) else context.get("tag")
        return f"unknown backend kind {tag!r} (known: {known})"
    if kind == "value_error":
        return str(context.get("error", detail["msg"]))
    return detail["msg"]


def _described(value: object) -> str:
    """'a number 3', 'a string 'soon'', 'a table': what was written, as a person would say it."""
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return f"a boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"a number {value!r}"
    if isinstance(value, str):
        return f"a string {value!r}"
    return type(value).__name__
