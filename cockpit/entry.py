"""The `cockpit` console script. `cockpit status` and `cockpit runs` take paths that import
only the standard library (tmux and scripts call them often); everything else goes to
`cockpit.cli`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["status"]:
        parser = argparse.ArgumentParser(prog="cockpit status", description=STATUS_HELP)
        parser.add_argument("--project", default=".", metavar="DIR")
        shape = parser.add_mutually_exclusive_group()
        shape.add_argument("--tmux", action="store_true", help="one line for status-right")
        shape.add_argument("--json", action="store_true", help="the same as JSON")
        options = parser.parse_args(args[1:])
        from cockpit.status import main as status_main

        return status_main(Path(options.project).resolve(), options.json)
    if args[:1] == ["runs"] and "-h" not in args and "--help" not in args:
        parser = argparse.ArgumentParser(prog="cockpit runs")
        parser.add_argument("--project", default=".", metavar="DIR")
        parser.add_argument("--json", action="store_true")
        parser.add_argument("--limit", type=int, default=None)
        options, unknown = parser.parse_known_args(args[1:])
        if not unknown:
            from cockpit.listing import print_runs

            return print_runs(Path(options.project).resolve(), options.json, options.limit)
    from cockpit.cli import main as cli_main

    return cli_main(argv)


STATUS_HELP = "The active (or latest) run in one line: state, step, loss, cost / cap, warnings."
