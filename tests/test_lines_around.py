"""The lines around a failure line, read by seeking to its stored byte offset (the jump's way,
before the index reaches it), are the lines the index reads there: redraws, CRLF, long lines,
the file's first and last lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from cockpit.store.line_index import MAX_LINE_BYTES, LineIndex, lines_around


def mirror(tmp_path: Path) -> tuple[Path, list[int]]:
    lines = []
    for i in range(3000):
        if i % 7 == 0:
            lines.append(b"progress 10%%\rprogress 50%%\rstep %d done" % i)
        elif i % 11 == 0:
            lines.append(b"w" * (3 * MAX_LINE_BYTES) + b" %d" % i)
        elif i % 13 == 0:
            lines.append(b"windows line %d\r" % i)
        else:
            lines.append(b'{"step": %d, "loss": %f}' % (i, 1 / (i + 1)))
    path = tmp_path / "train.log"
    data = b"\n".join(lines)  # no newline at the end: the last line is still a line
    path.write_bytes(data)
    starts = [0] + [i + 1 for i, byte in enumerate(data) if byte == 0x0A]
    return path, starts


@pytest.mark.parametrize("line", [0, 1, 149, 300, 1500, 2998, 2999])
def test_seeking_reads_what_the_index_reads(tmp_path: Path, line: int) -> None:
    path, starts = mirror(tmp_path)
    index = LineIndex(path)
    index.update()
    before, lines = lines_around(path, starts[line], 300, 300)
    first = line - before
    # At most 300, and fewer when they pass the bounded read (1 MiB; 48 KiB lines here).
    assert before == min(line, 300) or 200 < before < 300
    assert lines == index.read(first, before + 1 + 300)
    assert lines[before] == index.read(line, 1)[0]


def test_lines_around_a_missing_mirror_are_none(tmp_path: Path) -> None:
    assert lines_around(tmp_path / "gone.log", 100, 5, 5) == (0, [])
