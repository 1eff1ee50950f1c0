"""The `cockpit` command. Paths that print and exit never import Textual.

Every action goes through a request row that the supervisor executes, exactly like the UI's, so a
script or an agent sees and does exactly what a person at the cockpit does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cockpit.cli import commands
from cockpit.core.config import CockpitConfig, ConfigError, load_config
from cockpit.core.paths import ProjectPaths
from cockpit.store.reader import StoreReader
from cockpit.store.sqlite_file import StoreError
from cockpit.store.supervisor_lock import SupervisorLock

EXIT_USAGE = commands.EXIT_USAGE


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
    launch = sub.add_parser("launch", parents=[common], help="launch hypotheses")
    launch.add_argument(
        "hypothesis",
        nargs="+",
        help="e.g. H1, or PLAN:H1 when several plans have an H1; several are launched in this "
        "order (on a backend that places runs, those without a free GPU are queued)",
    )
    launch.add_argument("--backend", default=None, help="a backend named in cockpit.toml")
    launch.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    launch.add_argument(
        "--wait",
        action="store_true",
        help="follow the run and its automatic relaunches to the end; "
        "exit 0 only if the last attempt succeeded",
    )
    launch.add_argument(
        "--allow-dirty",
        action="store_true",
        help="launch even with uncommitted changes in the git tree",
    )
    raise_cap = sub.add_parser(
        "raise-cap", parents=[common], help="raise a hypothesis's (or a plan's) cost cap"
    )
    raise_cap.add_argument("target", help="H1 or PLAN:H1; with --plan, the plan file's path")
    raise_cap.add_argument("dollars", type=float, help="the new cap in dollars")
    raise_cap.add_argument("--plan", action="store_true", help="raise the whole plan's cap")
    stop = sub.add_parser("stop", parents=[common], help="stop + terminate a run")
    stop.add_argument("run", help="run id (a unique prefix is enough)")
    stop.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    status = sub.add_parser(
        "status", parents=[common], help="one line for tmux's status-right (or --json)"
    )
    status.add_argument("--tmux", action="store_true", help="one line for status-right")
    status.add_argument("--json", action="store_true", help="the same as JSON")
    ps = sub.add_parser(
        "ps", parents=[common], help="everything running or billing on the backends, orphans marked"
    )
    ps.add_argument("--json", action="store_true", help="print JSON")
    settings = sub.add_parser(
        "config", parents=[common], help="check cockpit.toml, or print its JSON Schema"
    )
    actions = settings.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    actions.add_parser(
        "schema",
        parents=[common],
        help="print the JSON Schema of cockpit.toml (for taplo / Even Better TOML)",
    )
    check = actions.add_parser(
        "check",
        parents=[common],
        help="validate cockpit.toml (and COCKPIT_* variables); every error, exit 1 if any",
    )
    check.add_argument("file", nargs="?", help="a config file (default: the project's)")
    from cockpit.cli.loop_commands import add_parser as add_loop_parser

    add_loop_parser(sub, common)
    demo = sub.add_parser("demo", parents=[common], help="create the demo project and open it")
    demo.add_argument("--dir", default="cockpit-demo", help="where (default: ./cockpit-demo)")
    demo.add_argument("--no-open", action="store_true", help="create it, do not open the UI")
    return parser


WRITES = frozenset({"ui", "supervise", "launch", "stop", "raise-cap", "loop"})
"""Commands that keep state in `.cockpit` (the others only read)."""


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    project = Path(getattr(args, "project", None) or ".").resolve()
    command = args.command or "ui"
    try:
        if command == "demo":
            return _demo(args)
        if command == "config":
            from cockpit.cli.config_commands import config_command

            return config_command(args, project)
        if not project.is_dir():
            print(f"cockpit: project directory {project} does not exist", file=sys.stderr)
            return EXIT_USAGE
        config = load_config(project)
        if command in WRITES and getattr(args, "loop_command", None) != "status":
            from cockpit.ui.client import unwritable

            if (problem := unwritable(ProjectPaths(project))) is not None:
                raise StoreError(problem)
        handler = {
            "ui": _ui,
            "watch": _watch,
            "supervise": _supervise,
            "runs": commands.runs,
            "logs": commands.logs,
            "launch": commands.launch,
            "stop": commands.stop,
            "ps": commands.ps,
            "raise-cap": commands.raise_cap,
            "loop": _loop,
            "status": _status,
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
    from cockpit.ui.app import CockpitApp

    CockpitApp(project, config, read_only=False).run()
    _say_supervision_continues(project)
    return 0


def _say_supervision_continues(project: Path) -> None:
    paths = ProjectPaths(project)
    if not paths.db.exists():
        return
    from cockpit.ui.client import ensure_supervisor

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


def _status(args: argparse.Namespace, project: Path, config: CockpitConfig) -> int:
    from cockpit.cli.status import main as status_main

    return status_main(project, args.json)


def _watch(args: argparse.Namespace, project: Path, config: CockpitConfig) -> int:
    from cockpit.ui.app import CockpitApp

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

        def stop() -> None:
            supervisor.request_stop()
            if task is not None:
                task.cancel()

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop)
        try:
            await supervisor.run_forever(args.idle_exit)
        except asyncio.CancelledError:
            logging.getLogger("cockpit").info("supervisor stopped by signal; runs keep going")

    try:
        asyncio.run(supervise())
    finally:
        lock.release()
    return 0


def _loop(args: argparse.Namespace, project: Path, config: CockpitConfig) -> int:
    from cockpit.cli.loop_commands import loop_command

    return loop_command(args, project)


def _demo(args: argparse.Namespace) -> int:
    from cockpit.cli.demo import create_demo

    target = Path(args.dir).resolve()
    created = create_demo(target)
    print(("created" if created else "using") + f" the demo project in {target}")
    if args.no_open:
        return 0
    config = load_config(target)
    return _ui(args, target, config)
