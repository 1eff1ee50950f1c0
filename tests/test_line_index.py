"""The sparse line index: any line of a big log by number, exact across block boundaries,
with CRLF, carriage-return progress, invalid UTF-8, a 20 MB line, growth and truncation."""

from __future__ import annotations

import random
from pathlib import Path

from cockpit.store.line_index import BLOCK, MAX_LINE_BYTES, LineIndex, display


def write_lines(path: Path, count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    lines = [f"{i:07d} " + "x" * rng.randrange(0, 300) for i in range(count)]
    path.write_bytes(("\n".join(lines) + "\n").encode())
    return lines


def test_every_line_reads_back_by_number_across_blocks(tmp_path: Path) -> None:
    path = tmp_path / "train.log"
    lines = write_lines(path, 60_000)
    index = LineIndex(path)
    state = index.update()
    assert state.lines == len(lines) and not state.reset
    assert index.checkpoints >= path.stat().st_size // BLOCK  # sparse: one per block
    assert index.checkpoints <= path.stat().st_size // BLOCK + 2
    for first in (0, 1, 59_990, 59_999, *random.Random(1).sample(range(60_000), 200)):
        assert index.read(first, 7) == lines[first : first + 7]
    # Around every checkpoint: the line before, at and after it.
    for checkpoint in range(1, index.checkpoints):
        line, offset = index._lines[checkpoint], index._offsets[checkpoint]
        assert index.read(line - 1, 3) == lines[line - 1 : line + 2]
        assert index.offset_of(line) == offset and index.line_at(offset) == line
    assert index.read(60_000, 5) == [] and index.read(59_998, 10) == lines[-2:]


def test_indexing_in_steps_gives_the_same_index(tmp_path: Path) -> None:
    path = tmp_path / "train.log"
    lines = write_lines(path, 20_000)
    whole, stepped = LineIndex(path), LineIndex(path)
    whole.update()
    while stepped.update(limit=100_000).size < path.stat().st_size:
        pass
    assert (stepped._lines, stepped._offsets) == (whole._lines, whole._offsets)
    assert stepped.lines == whole.lines == len(lines)


def test_crlf_progress_bars_and_invalid_utf8(tmp_path: Path) -> None:
    path = tmp_path / "train.log"
    path.write_bytes(
        b"windows line\r\n"
        b"epoch 1:  10%|#         | 1/10\repoch 1:  50%|#####     | 5/10\r"
        b"epoch 1: 100%|##########| 10/10\n"
        b"bad \xff\xfe bytes\n"
        b"no newline at the end"
    )
    index = LineIndex(path)
    assert index.update().lines == 4
    assert index.read(0, 4) == [
        "windows line",
        "epoch 1: 100%|##########| 10/10",
        "bad \ufffd\ufffd bytes",
        "no newline at the end",
    ]
    assert display(b"50%\r") == "50%"


def test_a_20_mb_line_is_cut_and_the_next_line_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "train.log"
    with open(path, "wb") as handle:
        handle.write(b"before\n")
        handle.write(b"y" * (20 * 1024 * 1024) + b"\n")
        handle.write(b"after\n")
    index = LineIndex(path)
    assert index.update().lines == 3
    before, huge, after = index.read(0, 3)
    assert (before, after) == ("before", "after")
    assert huge.startswith("y" * 100) and len(huge) < MAX_LINE_BYTES + 100
    assert huge.endswith(f"[line cut: {20 * 1024 * 1024 - MAX_LINE_BYTES:,} more bytes]")
    assert index.read(2, 1) == ["after"]


def test_growth_is_indexed_and_truncation_is_seen(tmp_path: Path) -> None:
    path = tmp_path / "train.log"
    path.write_bytes(b"one\ntw")
    index = LineIndex(path)
    assert index.update().lines == 2 and index.read(1, 1) == ["tw"]
    with open(path, "ab") as handle:
        handle.write(b"o\nthree\n")
    state = index.update()
    assert (state.lines, state.reset) == (3, False) and index.read(0, 3) == ["one", "two", "three"]
    path.write_bytes(b"new\n")  # truncated and rewritten
    state = index.update()
    assert state.reset and state.lines == 1 and index.read(0, 5) == ["new"]
    path.write_bytes(b"old\n")  # replaced by a file as long: its head differs
    assert index.update().reset and index.read(0, 1) == ["old"]
    path.unlink()
    assert index.update() == type(state)(0, 0, True)
