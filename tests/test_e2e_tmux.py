"""End to end in a real terminal: `cockpit demo` in tmux, launch with `l`, watch train lines and
a sparkline, stop with `s` + confirm, and the CLI agrees the run is stopped."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import wait_for

SPARK = set("▁▂▃▄▅▆▇█")


class Tmux:
    def __init__(self, socket: str) -> None:
        self.socket = socket

    def __call__(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=False
        )
        return result.stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "cockpit")

    def wait_screen(self, condition, what: str, timeout: float = 60) -> str:  # type: ignore[no-untyped-def]
        try:
            return str(wait_for(lambda: (s := self.screen()) and condition(s) and s, timeout, what))
        except AssertionError as exc:  # say what was on screen instead
            raise AssertionError(f"{exc}; the screen:\n{self.screen()}") from None


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    if shutil.which("tmux") is None:
        if os.environ.get("CI"):
            pytest.fail("tmux is missing: ./dev.sh test installs it")
        pytest.skip("tmux is not installed")
    # A server of its own per test: a name reused while the last one shuts down lost a session.
    session = Tmux(f"cockpit-test-{os.getpid()}-{tmp_path.name}")
    yield session
    session("kill-server")


def test_demo_launch_watch_stop(tmux: Tmux, tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    env = {
        "COCKPIT_SUPERVISOR__IDLE_EXIT_SECONDS": "1",
        "DEMO_STEPS": "2000",
        "DEMO_STEP_SECONDS": "0.05",
    }
    exports = " ".join(f"{key}={shlex.quote(value)}" for key, value in env.items())
    cockpit = f"{shlex.quote(sys.executable)} -m cockpit demo --dir {shlex.quote(str(demo))}"
    command = f'{exports} {cockpit}; echo "cockpit exited with $?"'
    tmux("new-session", "-d", "-s", "cockpit", "-x", "160", "-y", "48", command)
    tmux("set-option", "-t", "cockpit", "remain-on-exit", "on")
    tmux.wait_screen(lambda s: "H3" in s and "pending" in s, "the plan on screen")

    tmux("send-keys", "-t", "cockpit", "l")
    screen = tmux.wait_screen(
        lambda s: '"step": 3' in s and "RUNNING" in s, "train lines of a running run"
    )
    assert "h1-" in screen
    tmux.wait_screen(
        lambda s: any(
            line.lstrip().startswith("loss") and SPARK & set(line) for line in s.splitlines()
        ),
        "a loss sparkline",
    )

    tmux("send-keys", "-t", "cockpit", "s")
    confirm = tmux.wait_screen(lambda s: "Stop + terminate h1-" in s, "the stop confirmation")
    assert "Cost so far: $" in confirm
    tmux("send-keys", "-t", "cockpit", "y")
    tmux.wait_screen(lambda s: "STOPPED" in s, "the run stopped")

    runs = subprocess.run(
        [sys.executable, "-m", "cockpit", "runs", "--json", "--project", str(demo)],
        capture_output=True,
        text=True,
        check=True,
    )
    (run,) = json.loads(runs.stdout)
    assert run["hypothesis"] == "H1" and run["state"] == "stopped"
    tmux("send-keys", "-t", "cockpit", "q")
    final = tmux.wait_screen(lambda s: "cockpit exited with" in s, "the UI to quit")
    assert "cockpit exited with 0" in final and "Traceback" not in final


def test_quitting_with_an_active_run_says_supervision_continues(tmux: Tmux, tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    cockpit = f"{shlex.quote(sys.executable)} -m cockpit demo --dir {shlex.quote(str(demo))}"
    env = "COCKPIT_SUPERVISOR__IDLE_EXIT_SECONDS=1 DEMO_STEPS=100000 DEMO_STEP_SECONDS=0.05"
    tmux(
        "new-session",
        "-d",
        "-s",
        "cockpit",
        "-x",
        "160",
        "-y",
        "48",
        f'{env} {cockpit}; echo "cockpit exited with $?"',
    )
    tmux("set-option", "-t", "cockpit", "remain-on-exit", "on")
    tmux.wait_screen(lambda s: "H3" in s and "pending" in s, "the plan on screen")
    tmux("send-keys", "-t", "cockpit", "l")
    tmux.wait_screen(lambda s: "RUNNING" in s, "a running run")
    tmux("send-keys", "-t", "cockpit", "q")
    final = tmux.wait_screen(lambda s: "cockpit exited with" in s, "the UI to quit")
    assert "supervision continues in the background" in final
    assert "cockpit exited with 0" in final
    runs = json.loads(
        subprocess.run(
            [sys.executable, "-m", "cockpit", "runs", "--json", "--project", str(demo)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert runs[0]["state"] == "running"  # quitting the UI stopped nothing
    stopped = subprocess.run(
        [sys.executable, "-m", "cockpit", "stop", runs[0]["id"], "--yes", "--project", str(demo)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert stopped.returncode == 0, stopped.stderr


def test_a_loop_started_with_the_key_finishes_with_the_ui_closed(
    tmux: Tmux, tmp_path: Path
) -> None:
    """Start the loop with `L`, quit the UI, the supervisor runs the plan to its end; reopened,
    the cockpit says how the loop ended and the report is next to the plan."""
    demo = tmp_path / "demo"
    env = {"DEMO_STEPS": "40", "DEMO_STEP_SECONDS": "0.01"}
    exports = " ".join(f"{key}={shlex.quote(value)}" for key, value in env.items())
    python = shlex.quote(sys.executable)
    cockpit = f"{python} -m cockpit demo --dir {shlex.quote(str(demo))}"
    tmux("new-session", "-d", "-s", "cockpit", "-x", "160", "-y", "48", f"{exports} {cockpit}")
    tmux("set-option", "-t", "cockpit", "remain-on-exit", "on")
    tmux.wait_screen(lambda s: "H3" in s and "pending" in s, "the plan on screen")
    tmux("send-keys", "-t", "cockpit", "L")
    confirm = tmux.wait_screen(lambda s: "Start the loop" in s, "the loop confirmation")
    assert "Loop over hypotheses.md?" in confirm and "plan cap" in confirm
    tmux("send-keys", "-t", "cockpit", "y")
    tmux.wait_screen(lambda s: "⟳ loop" in s, "the loop on the status line")
    tmux("send-keys", "-t", "cockpit", "q")
    wait_for(
        lambda: tmux("display-message", "-p", "-t", "cockpit", "#{pane_dead}").strip() == "1",
        what="the UI closed",
    )

    def ended() -> object:
        listed = subprocess.run(
            [sys.executable, "-m", "cockpit", "loop", "status", "--json", "--project", str(demo)],
            capture_output=True, text=True, check=False,
        ).stdout  # fmt: skip
        loops = json.loads(listed or "[]")
        return loops[0] if loops and loops[0]["state"] == "ended" else None

    loop = wait_for(ended, timeout=120, what="the loop to end with the UI closed")
    assert isinstance(loop, dict) and loop["report"]
    assert (demo / loop["report"]).exists()
    tmux(
        "respawn-pane",
        "-k",
        "-t",
        "cockpit",
        f"{python} -m cockpit --project {shlex.quote(str(demo))}",
    )
    screen = tmux.wait_screen(lambda s: "last loop:" in s, "how the loop ended, reopened")
    assert f"last loop: {loop['end_state']}" in screen


def _steps_on_screen(screen: str) -> list[int]:
    """The step numbers of the train lines on screen, top to bottom."""
    import re

    return [int(m.group(1)) for m in re.finditer(r'\{"step": (\d+), "loss"', screen)]


def test_resizing_the_terminal_keeps_the_newest_line_on_screen(tmux: Tmux, tmp_path: Path) -> None:
    """160×48 → 100×30 → 80×24 → 220×60 (what tmux zoom and new splits do) while a run
    prints: the pane still says following, its bottom line is the newest one shown, and new
    lines keep arriving at the bottom."""
    demo = tmp_path / "demo"
    cockpit = f"{shlex.quote(sys.executable)} -m cockpit demo --dir {shlex.quote(str(demo))}"
    env = "COCKPIT_SUPERVISOR__IDLE_EXIT_SECONDS=1 DEMO_STEPS=100000 DEMO_STEP_SECONDS=0.05"
    command = f'{env} {cockpit}; echo "cockpit exited with $?"'
    tmux("new-session", "-d", "-s", "cockpit", "-x", "160", "-y", "48", command)
    tmux("set-option", "-t", "cockpit", "remain-on-exit", "on")
    # With no client attached, tmux sizes windows to its default (80×24) on its own: the
    # sizes here are the test's alone.
    tmux("set-option", "-g", "window-size", "manual")
    tmux("resize-window", "-t", "cockpit", "-x", "160", "-y", "48")
    tmux.wait_screen(lambda s: "H3" in s and "pending" in s, "the plan on screen")
    assert tmux("display", "-p", "-t", "cockpit", "#{window_width}x#{window_height}").strip() == (
        "160x48"
    )
    tmux("send-keys", "-t", "cockpit", "l")
    # A pane already scrolled (more lines than it holds): a smaller one is then short of
    # the end, which is where following used to stop.
    screen = tmux.wait_screen(
        lambda s: len(steps := _steps_on_screen(s)) > 20 and steps[0] > 10, "a scrolled pane"
    )
    try:
        for width, height in ((100, 30), (80, 24), (220, 60), (160, 48)):
            before = max(_steps_on_screen(screen))
            tmux("resize-window", "-t", "cockpit", "-x", str(width), "-y", str(height))
            size = tmux("display", "-p", "-t", "cockpit", "#{window_width}x#{window_height}")
            assert size.strip() == f"{width}x{height}"

            def followed(s: str, before: int = before) -> bool:
                steps = _steps_on_screen(s)
                return bool(steps) and steps[-1] == max(steps) > before + 3 and "following" in s

            screen = tmux.wait_screen(followed, f"newer lines at the bottom at {width}×{height}")
            assert "paused" not in screen
    finally:
        run_id = next((word for word in screen.split() if word.startswith("h1-")), "h1")
        subprocess.run(
            [sys.executable, "-m", "cockpit", "stop", run_id, "--yes", "--project", str(demo)],
            capture_output=True, check=False,
        )  # fmt: skip


def test_a_two_million_line_log_is_read_whole_in_watch(tmux: Tmux, tmp_path: Path) -> None:
    """A run writes 2M lines; in `cockpit watch`, Home shows line 1, a search finds the one
    line in the middle (and says it is the only match), End follows the tail again."""
    from tests.conftest import write_project

    project = write_project(tmp_path / "proj")
    writer = tmp_path / "writer.py"
    writer.write_text(
        "import sys\n"
        "out = sys.stdout\n"
        "for i in range(1, 2_000_001):\n"
        "    out.write('NCCL WARN the only one\\n' if i == 1_000_000 else f'line {i:07d} ok\\n')\n"
    )
    toml = project / "cockpit.toml"
    lines = toml.read_text().splitlines()
    lines[0] = f'command = "{sys.executable} {writer}"'
    toml.write_text("\n".join(lines) + "\n")
    for command in (["init", "-q"], ["add", "."], ["-c", "user.name=t", "-c",
                    "user.email=t@example.invalid", "commit", "-qm", "x"]):  # fmt: skip
        subprocess.run(["git", *command], cwd=project, check=True, capture_output=True)
    launched = subprocess.run(
        [sys.executable, "-m", "cockpit", "launch", "H1", "--yes", "--wait", "--project",
         str(project)],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert "h1-" in launched.stdout + launched.stderr, launched.stderr
    watch = f"{shlex.quote(sys.executable)} -m cockpit watch --project {shlex.quote(str(project))}"
    tmux("new-session", "-d", "-s", "cockpit", "-x", "160", "-y", "48", watch)
    tmux("set-option", "-g", "window-size", "manual")
    tmux("resize-window", "-t", "cockpit", "-x", "160", "-y", "48")
    tmux.wait_screen(lambda s: "line 2000000 ok" in s, "the tail of the log")
    tmux("send-keys", "-t", "cockpit", "g")  # (Home, with the log focused)
    tmux.wait_screen(
        lambda s: "line 0000001 ok" in s and "line 1 of 2,000,000" in s, "line 1 of 2,000,000"
    )
    tmux("send-keys", "-t", "cockpit", "/")
    # Typed once the box is there, as a person does (keys sent in the same instant as "/"
    # reach the screen before its action has opened the box).
    tmux.wait_screen(lambda s: "search: a regex or text" in s, "the search box")
    tmux("send-keys", "-t", "cockpit", "-l", "nccl warn")
    tmux("send-keys", "-t", "cockpit", "Enter")
    screen = tmux.wait_screen(
        lambda s: "match 1 of 1" in s and "NCCL WARN the only one" in s, "the match in the middle"
    )
    assert "line 999,997 of 2,000,000" in screen  # three lines of context above it
    tmux("send-keys", "-t", "cockpit", "G")
    tmux.wait_screen(lambda s: "line 2000000 ok" in s and "following" in s, "the tail again")
