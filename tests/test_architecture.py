"""The layout the architecture page describes is the layout on disk: every sub-package of
`cockpit/` is in its table (and nothing else is), the top holds only entry points, and no
module outgrows the ~400-line rule."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "architecture.md"
MAX_LINES = 400


def test_the_architecture_page_lists_every_sub_package() -> None:
    listed = re.findall(r"^\| `cockpit\.(\w+)` \|", PAGE.read_text(), re.MULTILINE)
    on_disk = sorted(path.parent.name for path in (ROOT / "cockpit").glob("*/__init__.py"))
    assert sorted(listed) == on_disk
    assert len(listed) == len(set(listed))


def test_the_top_of_cockpit_holds_only_entry_points() -> None:
    loose = sorted(path.name for path in (ROOT / "cockpit").glob("*.py"))
    assert loose == ["__init__.py", "__main__.py", "entry.py"]


def test_no_module_is_past_the_line_limit() -> None:
    long = {
        str(path.relative_to(ROOT)): count
        for package in ("cockpit", "widgets", "backends", "themes")
        for path in (ROOT / package).rglob("*.py")
        if (count := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, long
