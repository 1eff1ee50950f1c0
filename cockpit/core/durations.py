"""Durations as people write them on the command line: `90s`, `15m`, `2h`."""

from __future__ import annotations


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
