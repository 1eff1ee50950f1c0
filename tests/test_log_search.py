"""Search over a whole log: regex or text, smart case, forward and backward with wrap-around
left to the caller, the matching lines for the filter, across chunk boundaries."""

from __future__ import annotations

from pathlib import Path

import pytest

from cockpit.store import log_search
from cockpit.store.line_index import LineIndex
from cockpit.store.log_search import compile_query, find, matches_line, matching_lines


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(log_search, "CHUNK", 1000)  # many chunk boundaries in a small file


def log(tmp_path: Path) -> tuple[Path, list[str]]:
    lines = [f'{{"step": {i}, "loss": {1 / (i + 1):.4f}}}' for i in range(2000)]
    lines[1234] = "NCCL WARN Timeout in the middle"
    lines[1500] = "nccl info: lower case"
    path = tmp_path / "train.log"
    path.write_text("\n".join(lines) + "\n")
    return path, lines


def test_smart_case_regex_and_text(tmp_path: Path) -> None:
    path, lines = log(tmp_path)
    index = LineIndex(path)
    index.update()
    size = index.size
    lower = compile_query("nccl")
    assert not lower.note
    at = find(path, lower, 0, size)
    assert at is not None and index.line_at(at) == 1234  # case-insensitive: both
    again = find(path, lower, index.offset_of(1235), size)
    assert again is not None and index.line_at(again) == 1500
    upper = compile_query("NCCL")  # a capital letter: case-sensitive
    assert list(matching_lines(path, upper, size)) == [1234]
    regex = compile_query(r'"step": 1[0-9]{3},')
    assert list(matching_lines(path, regex, size))[:2] == [1000, 1001]
    broken = compile_query("loss: [")  # not a regex: searched as text, and said so
    assert broken.note.startswith("searched as text")
    assert list(matching_lines(path, broken, size)) == []
    assert matches_line(lower, lines[1500]) and not matches_line(upper, lines[1500])


def test_backward_finds_the_previous_match_and_none_is_none(tmp_path: Path) -> None:
    path, _ = log(tmp_path)
    index = LineIndex(path)
    index.update()
    nccl = compile_query("nccl")
    back = find(path, nccl, 0, index.offset_of(1500), forward=False)
    assert back is not None and index.line_at(back) == 1234
    assert find(path, nccl, 0, index.offset_of(1234), forward=False) is None
    assert find(path, compile_query("no such thing"), 0, index.size) is None


def test_matching_lines_counts_each_line_once_and_reports_progress(tmp_path: Path) -> None:
    path, lines = log(tmp_path)
    size = path.stat().st_size
    seen: list[int] = []
    step = compile_query("step")  # twice on no line, once on 1998 lines
    found = list(matching_lines(path, compile_query("0"), size, seen.append))
    assert found == [i for i, line in enumerate(lines) if "0" in line]
    assert seen[-1] == size and seen == sorted(seen)
    assert len(list(matching_lines(path, step, size))) == 1998


def test_plain_text_is_found_as_bytes_with_the_same_rules(tmp_path: Path) -> None:
    path, _ = log(tmp_path)
    index = LineIndex(path)
    index.update()
    for query, line in (("WARN Timeout", 1234), ("warn timeout", 1234), ("info: lower", 1500)):
        search = compile_query(query)
        assert search.literal is not None
        at = find(path, search, 0, index.size)
        assert at is not None and index.line_at(at) == line, query
        back = find(path, search, 0, index.size, forward=False)
        assert back is not None and index.line_at(back) == line, query
    assert compile_query("WARN.*middle").literal is None  # a regex
    assert find(path, compile_query("Warn Timeout"), 0, index.size) is None  # a capital: exact


def test_scanning_resumes_where_it_stopped_and_waits_for_a_line_to_end(tmp_path: Path) -> None:
    from cockpit.store.log_search import scan_matches

    path = tmp_path / "train.log"
    path.write_bytes(b"a match\nno\nmatch two\nmatch, not ended")
    search = compile_query("match")
    found, stop, line = scan_matches(path, search, 0, path.stat().st_size, 0)
    assert (found, line) == ([0, 2], 3) and stop == len(b"a match\nno\nmatch two\n")
    assert list(matching_lines(path, search, path.stat().st_size)) == [0, 2, 3]
    with open(path, "ab") as handle:
        handle.write(b" now\nmatch 5\n")
    more, stop, line = scan_matches(path, search, stop, path.stat().st_size, line)
    assert (more, line, stop) == ([3, 4], 5, path.stat().st_size)


@pytest.mark.parametrize("forward", [True, False])
def test_exact_text_is_found_across_the_mapped_windows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forward: bool
) -> None:
    """Exact text is searched in mapped windows of `MAPPED_STEP` bytes: a match that straddles
    two windows, one at a window's very start or end, and none at all are all as `bytes.find`
    (and `rfind`, backward) say, over any range."""
    monkeypatch.setattr(log_search, "MAPPED_STEP", 4096)
    needle = b"NCCL WARN straddling"
    data = bytearray(b"".join(b"step %06d ok\n" % i for i in range(4000)))
    for at in (4096 - 7, 3 * 4096, 5 * 4096 - len(needle), 9000, len(data) - len(needle) - 1):
        data[at : at + len(needle)] = needle
    path = tmp_path / "train.log"
    path.write_bytes(bytes(data))
    search = compile_query(needle.decode())
    assert search.literal is not None and not search.fold  # the mapped path
    for start, end in ((0, len(data)), (4096, 3 * 4096 + 5), (9001, len(data)), (100, 4000)):
        look = data.find if forward else data.rfind
        expected = look(needle, start, end)
        assert find(path, search, start, end, forward) == (expected if expected >= 0 else None)
