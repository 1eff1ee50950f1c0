"""Reading a whole 5M-line log in a terminal: `cockpit watch` side by side with toolong, on the
same file, in the same run (issue 18).

One file of LINES trainer lines padded to 100 bytes (default 5M: 500 MB, the issue's size;
`--bytes N` for another width), a unique first line, a unique line in the middle and a
unique last line. Each program runs in a private tmux server (160x48) and the screen is polled
every 10 ms:
- tail: from spawning the program to its screen showing the last line (both start with
  the tail on screen: toolong once its scan of the file ends);
- Home: the key (`g` / `Home`), pressed once the screen has been still for a second (the
  program started, the tail read), to the first line on screen;
- search: the unique middle line searched from the top (cockpit: `/`, the text, Enter; toolong:
  `/`, the text, then ↓ to go to the next match) to that line on screen;
- End: back to the tail (`G` / `End`);
- RSS: the program's resident memory after visiting top, middle and tail (VmRSS, and VmHWM
  for the peak).
cockpit's targets: tail <= 0.5 s after the pane opens (the spawn figure includes Python's and
Textual's start: the same program on a 1-line log is measured too, and the difference is the
pane's own), Home <= 0.5 s, search <= 2 s, RSS <= 150 MiB.

toolong pins an older Textual, so it lives in a venv of its own, made (and `pip install
toolong` run) on first use at bench/.toolong-venv; `--no-toolong` measures cockpit alone.

Usage: python bench/log_browse.py [LINES] [--bytes N] [--no-toolong]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.support.harness import PLAN
from bench.support.terminal import Terminal
from cockpit.core.paths import ProjectPaths
from cockpit.store.writer import Store
from tools.showcase import NOW, record

HERE = Path(__file__).resolve().parent
VENV = HERE / ".toolong-venv"
FIRST = "the first line of the log"
NEEDLE = "NCCL WARN Call to ibv_reg_mr failed: the only one"
LAST = "the last line of the log"
RUN = "h1-0b0b0b"


def write_log(path: Path, lines: int, width: int) -> None:
    """`lines` lines of `width` bytes (padded): FIRST, trainer lines, NEEDLE in the middle,
    trainer lines, LAST."""
    body = [
        (f'{{"step": {i}, "loss": 0.{i:06d}, "lr": 0.0003, "samples_per_s": 181233}}')
        if i % 2
        else (f"epoch 3 batch {i}: forward pass done in 41.2 ms, tokens/s 181233 ok")
        for i in range(10_000)
    ]
    rows = [line.ljust(width - 1).encode() + b"\n" for line in body]
    block = b"".join(rows)
    written = 0
    with open(path, "wb") as handle:

        def fill(until: int) -> None:
            nonlocal written
            while written < until:
                take = min(len(rows), until - written)
                handle.write(block if take == len(rows) else b"".join(rows[:take]))
                written += take

        for line, at in ((FIRST, 0), (NEEDLE, lines // 2), (LAST, lines - 1)):
            fill(at)
            handle.write(line.encode() + b"\n")
            written += 1


def project_with(log: Path, folder: Path) -> Path:
    """A cockpit project whose one run has `log` (hard-linked: the same file) as its train
    mirror."""
    folder.mkdir()
    (folder / "hypotheses.md").write_text(PLAN, encoding="utf-8")
    paths = ProjectPaths(folder)
    store = Store(paths.db)
    store.create_run(record(RUN, "H1", "succeeded", NOW - 3600, ended_at=NOW - 60))
    store.close()
    mirror = paths.mirror_log(RUN, "train")
    mirror.parent.mkdir(parents=True, exist_ok=True)
    os.link(log, mirror)
    return folder


def toolong() -> Path:
    """The `tl` of a venv of toolong's own (its Textual is older than cockpit's)."""
    script = VENV / "bin" / "tl"
    if not script.exists():
        print("installing toolong in bench/.toolong-venv …", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [str(VENV / "bin" / "python"), "-m", "pip", "install", "-q", "toolong"], check=True
        )
    return script


def memory(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of `pid` in MiB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return tuple(int(fields[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM"))  # type: ignore[return-value]


def program_pid(terminal: Terminal) -> int:
    """The program's own process (tmux's shell may have exec'd it, or started it)."""
    pid = terminal.pid
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = children.read_text().split() if children.exists() else []
    return int(kids[0]) if kids else pid


def settle(terminal: Terminal, quiet: float = 1.0, timeout: float = 30.0) -> None:
    """Until the screen has not changed for `quiet` seconds: a person reads the tail before
    pressing Home, and the program has finished starting (toolong: scanning)."""
    deadline = time.monotonic() + timeout
    last, since = terminal.screen(), time.monotonic()
    while time.monotonic() - since < quiet and time.monotonic() < deadline:
        time.sleep(0.05)
        screen = terminal.screen()
        if screen != last:
            last, since = screen, time.monotonic()


def visit(
    command: list[str], keys: dict[str, list[str]], search_keys: list[str], box: str,
    closed: str,
) -> dict[str, float]:  # fmt: skip
    """Tail, Home, search, End in one program; the seconds of each and its memory."""
    figures: dict[str, float] = {}
    terminal = Terminal(command)
    try:
        figures["tail"] = terminal.wait_screen(lambda s: LAST in s, timeout=120)
        pid = program_pid(terminal)
        settle(terminal)
        terminal.tmux("send-keys", "-t", "b", *keys["home"])
        figures["home"] = terminal.wait_screen(lambda s: FIRST in s, timeout=120)
        terminal.tmux("send-keys", "-t", "b", "/")
        terminal.wait_screen(lambda s: box in s, timeout=30)
        for _ in range(10):  # the box may show before it has the focus: type until it holds it
            terminal.tmux("send-keys", "-t", "b", "-l", NEEDLE)
            try:
                terminal.wait_screen(lambda s: NEEDLE in s, timeout=30)
                break
            except TimeoutError:
                terminal.tmux("send-keys", "-t", "b", "C-u")  # clear what came through
        terminal.tmux("send-keys", "-t", "b", *search_keys)
        figures["search"] = terminal.wait_screen(lambda s: s.count(NEEDLE[:30]) >= 2, timeout=300)
        terminal.tmux("send-keys", "-t", "b", *keys["leave"])
        # (a key sent right after Esc would be read as Alt+key: wait until the search is shut)
        terminal.wait_screen(lambda s: closed not in s, timeout=30)
        terminal.tmux("send-keys", "-t", "b", *keys["end"])
        figures["end"] = terminal.wait_screen(lambda s: LAST in s and FIRST not in s, timeout=120)
        figures["rss"], figures["peak"] = memory(pid)
        return figures
    finally:
        terminal.close()


def main() -> None:
    args = [arg for arg in sys.argv[1:] if not arg.startswith("--")]
    lines = int(args[0]) if args else 5_000_000
    width = int(sys.argv[sys.argv.index("--bytes") + 1]) if "--bytes" in sys.argv else 100
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        log = folder / "train.log"
        write_log(log, lines, width)
        print(f"log: {lines:,} lines, {log.stat().st_size / 1e6:,.0f} MB, machine: "
              f"{os.cpu_count()} cores, {os.uname().sysname} {os.uname().release}")  # fmt: skip
        small = folder / "small.log"
        small.write_text(f"{FIRST}\n{LAST}\n")
        python = sys.executable

        def watch(project: Path) -> list[str]:
            return [python, "-m", "cockpit", "watch", "--project", str(project)]

        small_project = project_with(small, folder / "small")
        starts = []
        for _ in range(3):  # (one start-up alone is too noisy a figure to subtract)
            started = Terminal(watch(small_project))
            try:
                starts.append(started.wait_screen(lambda s: LAST in s, timeout=60))
            finally:
                started.close()
        start = statistics.median(starts)
        ours = visit(
            watch(project_with(log, folder / "big")),
            {"home": ["g"], "leave": ["Escape"], "end": ["G"]},
            ["Enter"],
            "search: a regex",
            closed="/" + NEEDLE,  # the status names the search while it is open
        )
        theirs: dict[str, float] | None = None
        if "--no-toolong" not in sys.argv:
            theirs = visit(
                [str(toolong()), str(log)],
                {"home": ["Home"], "leave": ["Escape"], "end": ["End"]},
                ["Down"],
                "Find",
                closed="Case sensitive",  # the find dialog's checkbox
            )
    report(start, ours, theirs)


def report(start: float, ours: dict[str, float], theirs: dict[str, float] | None) -> None:
    def row(name: str, key: str, target: float | None, unit: str = "s") -> None:
        value = ours[key]
        verdict = "" if target is None else ("ok" if value <= target else f"MISSED (<= {target})")
        other = "" if theirs is None else f"{theirs[key]:9.2f} {unit}   {theirs[key] / value:6.1f}×"
        print(f"{name:<38} {value:9.2f} {unit}   {other:<22} {verdict}")

    print(f"{'':<38} {'cockpit':>11}   {'toolong, ratio':<22} target")
    row("spawn → tail on screen", "tail", None)
    pane = max(0.0, ours["tail"] - start)  # (below the start-up noise: 0)
    print(f"{'  cockpit on a 1-line log (median of 3)':<38} {start:9.2f} s")
    verdict = "ok" if pane <= 0.5 else "MISSED (<= 0.5)"
    label = "  the pane's own: tail on screen"
    print(f"{label:<38} {pane:9.2f} s   {'':<22} {verdict}")
    row("Home → first line on screen", "home", 0.5)
    row("search from the top → middle line", "search", 2.0)
    row("End → last line on screen", "end", None)
    row("RSS after top, middle, tail", "rss", 150.0, "MiB")
    row("  peak RSS (VmHWM)", "peak", None, "MiB")


if __name__ == "__main__":
    main()
