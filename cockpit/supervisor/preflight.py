"""Pre-flight: the checks that run before any launch, in order, before anything is billed.

1. the git tree is clean (a dirty tree needs an explicit allow: the UI asks, the CLI takes
   `--allow-dirty`), 2. for a remote backend the commit is pushed to the configured remote,
3. the smoke command, 4. the test command — each of the last two unless the plan's skip list
skips it. Every step's output goes to the run's onstart log; the first failure stops the launch.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from backends import processes as procs
from cockpit.core.config import PreflightConfig
from cockpit.core.git_tree import dirty_files, in_repository, run_git
from cockpit.core.plan import SkipFlag

Write = Callable[[str], None]


@dataclass(frozen=True)
class Step:
    name: str
    status: str
    """pass, fail or skipped."""
    detail: str

    def mark(self) -> str:
        return {"pass": "✓", "fail": "✗", "skipped": "–"}[self.status]


class PreflightFailed(Exception):
    def __init__(self, step: Step) -> None:
        self.step = step
        super().__init__(f"pre-flight {step.name} failed: {step.detail}")


def check_git(project: Path, allow_dirty: bool, plan_pattern: str = "hypotheses.md") -> Step:
    if in_repository(project) and shutil.which("git") is None:
        # Never skip the check silently: without git nobody can say the tree is clean.
        if allow_dirty:
            return Step("git", "pass", "git is not installed: the tree is not checked (allowed)")
        return Step(
            "git", "fail",
            "git is not installed here, so the tree cannot be checked for uncommitted "
            "changes: install git, or allow a dirty tree",
        )  # fmt: skip
    files = dirty_files(project, plan_pattern)
    if files is None:
        return Step("git", "skipped", "not a git repository: runs record no commit")
    if not files:
        return Step("git", "pass", "working tree clean")
    listed = ", ".join(files[:5]) + (f" and {len(files) - 5} more" if len(files) > 5 else "")
    if allow_dirty:
        return Step("git", "pass", f"uncommitted changes allowed: {listed}")
    return Step(
        "git", "fail", f"uncommitted changes in {listed} (commit them, or allow a dirty tree)"
    )


def check_pushed(project: Path, commit: str, remote: str, required: bool = True) -> Step:
    if commit == "no-git":
        return Step("pushed", "skipped", "not a git repository: the project's files are uploaded")
    if not required:
        return Step("pushed", "skipped", "[preflight] require_pushed is off")
    result = run_git(project, "branch", "-r", "--contains", commit)
    branches = [line.strip() for line in result.stdout.splitlines()]
    if result.returncode == 0 and any(b.startswith(f"{remote}/") for b in branches):
        return Step("pushed", "pass", f"{commit[:12]} is on {remote}")
    return Step(
        "pushed", "fail", f"commit {commit[:12]} is not on {remote}: push it (git push {remote})"
    )


async def run_command(
    name: str, command: str, project: Path, env: Mapping[str, str], timeout_s: float, write: Write
) -> Step:
    write(f"[preflight] {name}: {command}\n")
    folder = env.get("COCKPIT_RUN_DIR")
    if folder:
        # The shell records its pid before the command starts, so a supervisor started after
        # this one died can end the command (its process group) whenever this one died.
        pid_file = shlex.quote(str(Path(folder) / f"{name}.pid"))
        command = f"echo $$ > {pid_file}; {command}"
    process = await asyncio.create_subprocess_shell(
        command,
        cwd=project,
        env={**os.environ, **env},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    assert process.stdout is not None

    async def copy() -> None:
        assert process.stdout is not None
        while chunk := await process.stdout.read(65536):
            write(chunk.decode("utf-8", "replace"))

    try:
        await asyncio.wait_for(asyncio.gather(copy(), process.wait()), timeout_s)
    except TimeoutError:
        _kill_group(process.pid)
        await process.wait()
        return Step(name, "fail", f"timed out after {timeout_s:.0f} s")
    if process.returncode != 0:
        return Step(name, "fail", f"exit code {process.returncode}")
    return Step(name, "pass", "exit code 0")


def end_leftovers(folder: Path, run_id: str) -> list[str]:
    """End the smoke and test commands a dead supervisor left running: their process groups,
    found by the pid files their shells wrote, if that pid still runs in `run_id`'s
    environment (a pid alone may have been reused)."""
    ended = []
    for pid_file in folder.glob("*.pid"):
        try:
            pid = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        if procs.is_alive(pid, None) and f"COCKPIT_RUN_ID={run_id}" in _environ(pid):
            _kill_group(pid)
            ended.append(f"{pid_file.stem} (pid {pid})")
    return ended


def _environ(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return []
    return raw.decode("utf-8", "replace").split("\0")


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


async def run_preflight(
    project: Path,
    config: PreflightConfig,
    flags: frozenset[SkipFlag],
    commit: str,
    remote_backend: bool,
    allow_dirty: bool,
    placeholders: Mapping[str, str],
    env: Mapping[str, str],
    write: Write,
    plan_pattern: str = "hypotheses.md",
) -> list[Step]:
    """Run every step in order; raise PreflightFailed at the first failure."""
    steps: list[Step] = []

    def record(step: Step) -> None:
        steps.append(step)
        write(f"[preflight] {step.name}: {step.mark()} {step.status}: {step.detail}\n")
        if step.status == "fail":
            raise PreflightFailed(step)

    record(check_git(project, allow_dirty, plan_pattern))
    if remote_backend:
        record(check_pushed(project, commit, config.remote, config.require_pushed))
    for name, command, flag in (
        ("smoke", config.smoke, SkipFlag.SMOKE),
        ("tests", config.tests, SkipFlag.TESTS),
    ):
        if flag in flags:
            record(Step(name, "skipped", "the plan's skip list skips it"))
        elif not command:
            record(Step(name, "skipped", f"no [preflight] {name} command configured"))
        else:
            filled = command.format(**placeholders)
            record(await run_command(name, filled, project, env, config.timeout_seconds, write))
    return steps


def summary(steps: list[Step]) -> str:
    return "pre-flight: " + "  ".join(f"{step.name} {step.mark()}" for step in steps)
