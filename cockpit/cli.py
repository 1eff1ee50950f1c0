"""The `cockpit` command. Paths that print and exit never import Textual.

Every action goes through a request row that the supervisor executes, exactly like the UI's, so a
script or an agent sees and does exactly what a person at the cockpit does.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from cockpit.config import CockpitConfig, ConfigError, load_config
from cockpit.lock import SupervisorLock
from cockpit.runtime import ProjectPaths
from cockpit.store import TERMINAL_STATES, StoreError, StoreReader

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--project",
        default=argparse.SUPPRESS,
        metavar="DIR",
        help="the project directory (default: the current directory)",
    )
    parser = argparse.ArgumentParser(
        prog="cockpit",
        parents=[common],
        description="A keyboard-driven cockpit for ML training runs. "
        "With no command: the interactive UI.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("ui", parents=[common], help="the interactive cockpit (the default)")
    sub.add_parser("watch", parents=[common], help="the same screens, read-only")
    supervise = sub.add_parser("supervise", parents=[common], help="run the supervisor here")
    supervise.add_argument(
        "--idle-exit",
        type=float,
        default=None,
        metavar="SECONDS",
        help="exit after this long with nothing to do (config default)",
    )
    runs = sub.add_parser("runs", parents=[common], help="list runs")
    runs.add_argument("--json", action="store_true", help="print JSON")
    runs.add_argument("--limit", type=int, default=None, help="at most this many, newest first")
    logs = sub.add_parser("logs", parents=[common], help="print a run's log")
    logs.add_argument("run", help="run id (a unique prefix is enough)")
    logs.add_argument("--source", choices=["train", "onstart", "gpu"], default="train")
    logs.add_argument("-f", "--follow", action="store_true", help="follow until the run ends")
    launch = sub.add_parser("launch", parents=[common], help="launch a hypothesis")
    launch.add_argument("hypothesis", help="e.g. H1, or PLAN:H1 when several plans have an H1")
    launch.add_argument("--backend", default=None, help="a backend named in cockpit.toml")
    launch.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    launch.add_argument(
        "--wait", action="store_true", help="follow the run to its end; exit 0 only if it succeeded"
    )
    stop = sub.add_parser("stop", parents=[common], help="stop + terminate a run")
    stop.add_argument("run", help="run id (a unique prefix is enough)")
    stop.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    ps = sub.add_parser(
        "ps", parents=[common], help="everything running or billing on the backends, orphans marked"
    )
    ps.add_argument("--json", action="store_true", help="print JSON")
    demo = sub.add_parser("demo", parents=[common], help="create the demo project and open it")
    demo.add_argument("--dir", default="cockpit-demo", help="where (default: ./cockpit-demo)")
    demo.add_argument("--no-open", action="store_true", help="create it, do not open the UI")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    project = Path(getattr(args, "project", None) or ".").resolve()
    command = args.command or "ui"
    try:
        if command == "demo":
            return _demo(args)
        if not project.is_dir():
            print(f"cockpit: project directory {project} does not exist", file=sys.stderr)
            return EXIT_USAGE
        config = load_config(project)
        handler = {
            "ui": _ui,
            "watch": _watch,
            "supervise": _supervise,
            "runs": _runs,
            "logs": _logs,
            "launch": _launch,
            "stop": _stop,
            "ps": _ps,
        }[command]
        return handler(args, project, config)
    except ConfigError as exc:
        print(f"cockpit: config error:\n{exc}", file=sys.stderr)
        return EXIT_USAGE
    except StoreError as exc:
        print(f"cockpit: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _ui(args: argparse.Namespace, project: Path, config: CockpitConfig) -> int:
    from cockpit.app import CockpitApp

    CockpitApp(project, config, read_only=False).run()
    _say_supervision_continues(project)
    return 0


def _say_supervision_continues(project: Path) -> None:
    paths = ProjectPaths(project)
    if not paths.db.exists():
        return
    from cockpit.client import ensure_supervisor

    reader = StoreReader(paths.db, read_only=True)
    active = reader.active_runs()
    reader.close()
    if not active:
        return
    started = ensure_supervisor(paths)
    holder = SupervisorLock(paths.lock).holder() if not started else {}
    who = "a new supervisor was started" if started else f"supervisor pid {holder.get('pid', '?')}"
    names = ", ".join(run.id for run in active)
    print(
        f"{len(active)} run(s) still active ({names}): supervision continues in the background "
        f"({who}; log: {paths.supervisor_log}).\n"
        f"Watch: cockpit watch --project {project}    Stop: cockpit stop RUN --project {project}"
    )


def _watch(args: argparse.Namespace, project: Path, config: CockpitConfig) -> int:
    from cockpit.app import CockpitApp

    CockpitApp(project, config, read_only=True).run()
    return 0


def _supervise(args: argparse.Namespace, project: Path, config: CockpitConfig) -> int:
    import asyncio
    import logging
    import signal

    from cockpit.supervisor import Supervisor

    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    paths = ProjectPaths(project)
    lock = SupervisorLock(paths.lock)
    if not lock.acquire():
        holder = lock.holder()
        print(
            f"cockpit: a supervisor already runs for {project} "
            f"(pid {holder.get('pid', '?')} on {holder.get('host', '?')})",
            file=sys.stderr,
        )
        return 1

    async def supervise() -> None:
        supervisor = Supervisor(project, config)
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, lambda: task.cancel() if task else None)
        try:
            await supervisor.run_forever(args.idle_exit)
        except asyncio.CancelledError:
            logging.getLogger("cockpit").info("supervisor stopped by signal; runs keep going")

    try:
        asyncio.run(supervise())
    finally:
        lock.release()
    return 0


def _reader(project: Path) -> StoreReader | None:
    paths = ProjectPaths(project)
    if not paths.db.exists():
        return None
    return StoreReader(paths.db, read_only=True)


def _runs(args: argparse.Namespace, project: Path, config: CockpitConfig) -> int:
    reader = _reader(project)
    runs = reader.runs(limit=args.limit) if reader else []
    if args.json:
        json.dump([run.to_json() for run in runs], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if not runs:
        print("no runs yet")
        return 0
    print(f"{'RUN':<14} {'HYP':<5} {'STATE':<10} {'BACKEND':<8} {'STARTED':<20} {'COST':>8}  PLAN")
    for run in runs:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.created_at))
        print(
            f"{run.id:<14} {run.hypothesis:<5} {run.state:<10} {run.backend:<8} {started:<20} "
            f"${run.cost_so_far:>7.2f}  {run.plan}"
        )
    return 0


def _logs(args: argparse.Namespace, project: Path, config: CockpitConfig) -> int:
    reader = _reader(project)
    run = reader.find_run(args.run) if reader else None
    if run is None or reader is None:
        print(f"cockpit: no run {args.run!r} (or the prefix is not unique)", file=sys.stderr)
        return 1
    path = ProjectPaths(project).mirror_log(run.id, args.source)
    offset = 0
    out = sys.stdout.buffer
    while True:
        current = reader.run(run.id)
        ended = current is None or current.state in TERMINAL_STATES
        try:
            with open(path, "rb") as handle:
                handle.seek(offset)
                data = handle.read()
        except FileNotFoundError:
            data = b""
        if data:
            out.write(data)
            out.flush()
            offset += len(data)
        if not args.follow or (ended and not data):
            return 0
        if not data:
            time.sleep(0.2)


def _confirm(question: str, yes: bool) -> bool | None:
    """True/False from the user; None when there is no terminal to ask and no --yes."""
    if yes:
        return True
    if not sys.stdin.isatty():
        return None
    answer = input(f"{question} [y/N] ").strip().lower()
    return answer in ("y", "yes")


def _send(project: Path, kind: str, payload: dict[str, object]) -> tuple[StoreReader, str]:
    from cockpit.client import client_name, ensure_supervisor

    paths = ProjectPaths(project)
    reader = StoreReader(paths.db)  # read-write: creates the store, migrates it
    request_id = reader.submit_request(kind, payload, client_name("cli"))
    ensure_supervisor(paths)
    return reader, request_id


def _launch(args: argparse.Namespace, project: Path, config: CockpitConfig) -> int:
    from cockpit.client import wait_for_request

    backend = args.backend or config.default_backend
    answer = _confirm(f"Launch {args.hypothesis} on {backend}?", args.yes)
    if answer is False:
        print("not launched")
        return 1
    payload: dict[str, object] = {"hypothesis": args.hypothesis}
    if args.backend:
        payload["backend"] = args.backend
    reader, request_id = _send(project, "launch", payload)
    request = wait_for_request(reader, request_id, timeout_s=120)
    if request.status != "done" or request.run_id is None:
        why = request.result or "no answer from the supervisor"
        print(f"cockpit: launch {request.status}: {why}", file=sys.stderr)
        return 1
    print(request.run_id)
    if not args.wait:
        return 0
    state = ""
    while True:
        run = reader.run(request.run_id)
        if run is None:
            return 1
        if run.state != state:
            state = run.state
            print(f"{run.id}: {state} {run.detail}".rstrip(), file=sys.stderr)
        if run.state in TERMINAL_STATES:
            return 0 if run.state == "succeeded" else 1
        time.sleep(0.2)


def _stop(args: argparse.Namespace, project: Path, config: CockpitConfig) -> int:
    from cockpit.client import wait_for_request

    reader = _reader(project)
    run = reader.find_run(args.run) if reader else None
    if run is None:
        print(f"cockpit: no run {args.run!r} (or the prefix is not unique)", file=sys.stderr)
        return 1
    if not run.active:
        print(f"cockpit: run {run.id} is already {run.state}", file=sys.stderr)
        return 1
    answer = _confirm(
        f"Stop + terminate {run.id} ({run.hypothesis}, cost so far ${run.cost_so_far:.2f})?",
        args.yes,
    )
    if answer is None:
        print("cockpit: no terminal to confirm on; pass --yes to stop", file=sys.stderr)
        return EXIT_USAGE
    if not answer:
        print("not stopped")
        return 1
    writer, request_id = _send(project, "stop", {"run_id": run.id})
    request = wait_for_request(writer, request_id, timeout_s=120)
    if request.status != "done":
        print(f"cockpit: stop {request.status}: {request.result}", file=sys.stderr)
        return 1
    final = writer.run(run.id)
    cost = final.cost_so_far if final else 0.0
    print(f"{run.id}: stopped (cost ${cost:.2f})")
    return 0


def _ps(args: argparse.Namespace, project: Path, config: CockpitConfig) -> int:
    import asyncio

    from cockpit.runtime import make_backend

    paths = ProjectPaths(project)
    reader = _reader(project)
    known = {run.id: run for run in reader.runs()} if reader else {}

    async def gather() -> list[dict[str, object]]:
        rows: list[dict[str, object]] = []
        for name in config.backends:
            backend = make_backend(name, config, paths)
            try:
                for item in await backend.list_billed():
                    run = known.get(item.run_id or "")
                    rows.append(
                        {
                            "backend": item.backend,
                            "resource": item.resource_id,
                            "run_id": item.run_id,
                            "age_s": round(item.age_s, 1),
                            "cost_per_hour": item.cost_per_hour,
                            "known": run is not None and run.active,
                            "store_state": run.state if run else None,
                        }
                    )
            finally:
                await backend.close()
        return rows

    rows = asyncio.run(gather())
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if not rows:
        print("nothing running on any configured backend")
        return 0
    for row in rows:
        mark = "" if row["known"] else "  ORPHAN (store: " + str(row["store_state"]) + ")"
        print(
            f"{row['backend']:<8} {row['resource']:<14} run {row['run_id']} "
            f"age {row['age_s']}s ${row['cost_per_hour']}/h{mark}"
        )
    return 0


def _demo(args: argparse.Namespace) -> int:
    from cockpit.demo import create_demo

    target = Path(args.dir).resolve()
    created = create_demo(target)
    print(("created" if created else "using") + f" the demo project in {target}")
    if args.no_open:
        return 0
    config = load_config(target)
    return _ui(args, target, config)
