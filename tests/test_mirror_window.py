"""The window around a failure line: read by seeking to its stored byte offset, it is the same
as reading the mirror up to the line (redraws, long lines, the file's first and last lines)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cockpit.core.logparse import MAX_LINE
from cockpit.store.mirror_tail import window_around, window_at


def mirror(tmp_path: Path) -> tuple[Path, list[int]]:
    lines = []
    for i in range(3000):
        if i % 7 == 0:
            lines.append(b"progress 10%%\rprogress 50%%\rstep %d done" % i)
        elif i % 11 == 0:
            lines.append(b"w" * (3 * MAX_LINE) + b" %d" % i)
        else:
            lines.append(b'{"step": %d, "loss": %f}' % (i, 1 / (i + 1)))
    path = tmp_path / "train.log"
    data = b"\n".join(lines)  # no newline at the end: the last line is still a line
    path.write_bytes(data)
    starts = [0] + [i + 1 for i, byte in enumerate(data) if byte == 0x0A]
    return path, starts


@pytest.mark.parametrize("line_no", [1, 2, 150, 301, 1500, 2999, 3000])
def test_seeking_gives_the_same_window_as_reading_up_to_the_line(
    tmp_path: Path, line_no: int
) -> None:
    path, starts = mirror(tmp_path)
    assert window_at(path, starts[line_no - 1], line_no) == window_around(path, line_no)


def test_a_window_on_a_missing_mirror_is_empty(tmp_path: Path) -> None:
    assert window_at(tmp_path / "gone.log", 100, 5) == (5, [])
