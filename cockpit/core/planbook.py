"""All plans of a project, as last read: a bad edit keeps the last good plan and its error."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

from cockpit.core.plan import Plan, PlanError, discover_plans, load_plan


@dataclass(frozen=True)
class PlanEntry:
    rel: str
    plan: Plan | None
    """The last plan that parsed, or None if it never did."""
    error: str | None


class PlanBook:
    def __init__(self, project: Path, pattern: str) -> None:
        self.project = project
        self.pattern = pattern
        self.entries: dict[str, PlanEntry] = {}
        self._stamps: dict[str, tuple[int, int] | None] = {}

    def reload(self) -> dict[str, PlanEntry]:
        seen = {}
        self._stamps = {}
        for path in discover_plans(self.project, self.pattern):
            rel = str(path.relative_to(self.project))
            self._stamps[rel] = _stamp(path)
            previous = self.entries.get(rel)
            try:
                plan = load_plan(path)
                seen[rel] = PlanEntry(rel, plan, None)
            except PlanError as exc:
                seen[rel] = PlanEntry(rel, previous.plan if previous else None, str(exc))
            except FileNotFoundError:
                seen[rel] = PlanEntry(
                    rel,
                    previous.plan if previous else None,
                    f"{rel}: no such plan file in {self.project}: create it, or set `plans` in "
                    "cockpit.toml (`cockpit demo` shows an example)",
                )
            except OSError as exc:
                seen[rel] = PlanEntry(
                    rel, previous.plan if previous else None, f"{rel}: cannot read: {exc.strerror}"
                )
        self.entries = seen
        return seen

    def edited_since_read(self) -> bool:
        """True when a plan file changed (modification time or size), appeared or went away
        since the last `reload` (an edit made while the file watcher was still starting)."""
        stamps = {
            str(path.relative_to(self.project)): _stamp(path)
            for path in discover_plans(self.project, self.pattern)
        }
        return stamps != self._stamps

    def watch_roots(self) -> tuple[Path, bool]:
        """The directory to watch and whether recursively (a glob watches its fixed prefix)."""
        parts = Path(self.pattern).parts
        fixed: list[str] = []
        for part in parts:
            if any(char in part for char in "*?["):
                return self.project.joinpath(*fixed), True
            fixed.append(part)
        return (self.project / self.pattern).parent, False

    def matches(self, changed: str) -> bool:
        path = Path(changed)
        try:
            rel = str(path.resolve().relative_to(self.project.resolve()))
        except ValueError:
            return False
        return rel == self.pattern or fnmatch.fnmatch(rel, self.pattern)


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size
