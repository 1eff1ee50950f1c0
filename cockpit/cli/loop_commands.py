"""`cockpit loop start | stop | status`: the loop over a plan's hypotheses, from a script.

Start and stop are request rows the supervisor executes (as the UI's keys are); status reads
the store. A stop while a tick's run is in flight must say what happens to that run: let it
finish (`--finish-run`) or stop and terminate it (`--stop-run`); at a terminal the question is
asked, from a script the flag is required.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cockpit.core.loop_rules import parse_duration
from cockpit.core.paths import ProjectPaths
from cockpit.core.protocol import (
    OPEN_REQUESTS,
    Command,
    LoopRunMode,
    LoopStartRequest,
    LoopStopRequest,
    RequestStatus,
)
from cockpit.core.records import LoopRecord
from cockpit.store.reader import StoreReader

EXIT_USAGE = 2


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    loop = sub.add_parser("loop", parents=[common], help="loop over a plan's open hypotheses")
    actions = loop.add_subparsers(dest="loop_command", metavar="ACTION", required=True)
    start = actions.add_parser(
        "start", parents=[common], help="start a loop: one run per open hypothesis, in order"
    )
    start.add_argument("--plan", default=None, help="the plan's path or folder (if several)")
    start.add_argument("--max", type=int, default=None, help="stop after this many ticks")
    start.add_argument(
        "--every", default=None, metavar="DURATION",
        help="a tick at most this often (90s, 15m, 2h; default: each after the last is done)",
    )  # fmt: skip
    stop = actions.add_parser("stop", parents=[common], help="stop the loop")
    stop.add_argument("--plan", default=None, help="the plan's path or folder (if several)")
    how = stop.add_mutually_exclusive_group()
    how.add_argument("--finish-run", action="store_true", help="let the run in flight finish")
    how.add_argument("--stop-run", action="store_true", help="stop + terminate the run in flight")
    status = actions.add_parser("status", parents=[common], help="the loops and their ticks")
    status.add_argument("--json", action="store_true", help="print JSON")


def loop_command(args: argparse.Namespace, project: Path) -> int:
    if args.loop_command == "status":
        return _status(project, args.json)
    if args.loop_command == "start":
        every_s = None
        if args.every is not None:
            try:
                every_s = parse_duration(args.every)
            except ValueError:
                print(f"cockpit: --every {args.every!r}: say 90s, 15m or 2h", file=sys.stderr)
                return EXIT_USAGE
        return _request(project, LoopStartRequest(args.plan, args.max, every_s))
    mode = LoopRunMode.STOP if args.stop_run else LoopRunMode.FINISH
    if not (args.stop_run or args.finish_run) and _in_flight(project, args.plan):
        if not sys.stdin.isatty():
            print(
                "cockpit: a run of the loop is in flight: say --finish-run or --stop-run",
                file=sys.stderr,
            )
            return EXIT_USAGE
        answer = input("A run is in flight: [f]inish it, or [s]top + terminate it? ").strip()
        if answer.lower() not in ("f", "s"):
            print("the loop goes on")
            return 1
        mode = LoopRunMode.STOP if answer.lower() == "s" else LoopRunMode.FINISH
    return _request(project, LoopStopRequest(args.plan, mode))


def _request(project: Path, command: Command) -> int:
    from cockpit.cli.commands import send_request
    from cockpit.ui.client import wait_for_request

    reader, request_id = send_request(project, command)
    request = wait_for_request(reader, request_id, timeout_s=120)
    if request.status in OPEN_REQUESTS:
        print("cockpit: no answer from the supervisor", file=sys.stderr)
        return 1
    if request.status != RequestStatus.DONE:
        what = command.KIND.replace("_", " ")
        print(f"cockpit: {what} {request.status}: {request.result}", file=sys.stderr)
        return 1
    print(request.result)
    return 0


def _reader(project: Path) -> StoreReader | None:
    db = ProjectPaths(project).db
    return StoreReader(db, read_only=True) if db.exists() else None


def _in_flight(project: Path, plan: str | None) -> bool:
    reader = _reader(project)
    if reader is None:
        return False
    for loop in reader.loops(active_only=True):
        if plan and plan.rstrip("/") not in (loop.plan, str(Path(loop.plan).parent)):
            continue
        if any(run.active for run in reader.runs_of_loop(loop.id)):
            return True
    return False


def _status(project: Path, as_json: bool) -> int:
    reader = _reader(project)
    loops: list[LoopRecord] = reader.loops() if reader else []
    if as_json:
        json.dump([loop.to_json() for loop in loops], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if not loops:
        print("no loop has run in this project")
        return 0
    for loop in loops:
        ticks = f"tick {loop.ticks}/{loop.max_ticks or '∞'}"
        said = f"{loop.id}  {loop.plan}  {loop.state}  {ticks}"
        if loop.state == "ended":
            said += f"  — {loop.stop_reason}" + (f" (report: {loop.report})" if loop.report else "")
        elif loop.rejected_streak:
            said += f"  ({loop.rejected_streak} rejected in a row)"
        print(said)
    return 0
