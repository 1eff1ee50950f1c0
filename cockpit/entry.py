"""The `cockpit` console script. `cockpit status` and `cockpit runs` take paths that import
only the standard library (tmux and scripts call them often); everything else goes to
`cockpit.cli.main`.

The fast paths read their few options by hand: importing and building an `argparse` parser
costs ~7 ms (it pulls in gettext, locale and shutil), a fifth of the whole command. Anything
they do not recognise, `--help` included, goes to `cockpit.cli.main`, whose parser has the same
options and gives the usual help and errors.
"""

from __future__ import annotations

import sys
from pathlib import Path

_FLAGS = {
    "status": frozenset({"--tmux", "--json"}),
    "runs": frozenset({"--json"}),
}
_VALUES = {
    "status": frozenset({"--project"}),
    "runs": frozenset({"--project", "--limit"}),
}


def fast_options(command: str, args: list[str]) -> dict[str, object] | None:
    """`args` as {option: value}, or None where they are not simple enough for the fast path."""
    options: dict[str, object] = {}
    items = iter(args)
    for arg in items:
        name, eq, value = arg.partition("=")
        if not eq and name in _FLAGS[command]:
            options[name] = True
        elif name in _VALUES[command]:
            if not eq:
                value = next(items, "")
            if not value or value.startswith("-") or name in options:
                return None
            options[name] = value
        else:
            return None
    if "--tmux" in options and "--json" in options:
        return None  # mutually exclusive: let argparse say so
    limit = options.get("--limit")
    if isinstance(limit, str):
        if not limit.isdigit():
            return None
        options["--limit"] = int(limit)
    return options


def _fast(command: str, project: Path, options: dict[str, object]) -> int:
    if command == "status":
        from cockpit.cli.status import main as status_main

        return status_main(project, bool(options.get("--json")))
    from cockpit.cli.listing import print_runs

    limit = options.get("--limit")
    return print_runs(
        project, bool(options.get("--json")), limit if isinstance(limit, int) else None
    )


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # `cockpit config schema | head`: the reader left; say nothing more (Python's advice:
        # point stdout at /dev/null so the interpreter's own flush at exit cannot fail again).
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _main(argv: list[str] | None) -> int:
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else ""
    options = fast_options(command, args[1:]) if command in _FLAGS else None
    if options is not None:
        project = Path(str(options.get("--project", "."))).resolve()
        try:
            return _fast(command, project, options)
        except Exception as exc:  # sqlite3.DatabaseError, StoreError: one clear line
            import sqlite3

            from cockpit.store.sqlite_file import StoreError, store_problem

            if not isinstance(exc, sqlite3.DatabaseError | StoreError):
                raise
            db = project / ".cockpit" / "state.db"
            message = str(exc) if isinstance(exc, StoreError) else store_problem(db, exc)
            print(f"cockpit: {message}", file=sys.stderr)
            return 1
    from cockpit.cli.main import main as cli_main

    return cli_main(argv)
