"""`cockpit config schema` and `cockpit config check`: cockpit.toml for editors and for CI.

`schema` prints the JSON Schema of cockpit.toml (generated from the pydantic models, so it
cannot drift from what cockpit accepts): point taplo / Even Better TOML at it and an editor
completes keys, shows their docs and marks unknown keys and wrong types as you type.
`check` validates a file the way every cockpit command will read it (COCKPIT_* variables
included) and prints every problem at once, exiting 1 when there is any.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cockpit.core.config import CONFIG_FILE, ConfigError, config_schema, load_config

EXIT_INVALID = 1


def config_command(args: argparse.Namespace, project: Path) -> int:
    if args.config_command == "schema":
        json.dump(config_schema(), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    path = Path(args.file).resolve() if args.file else project / CONFIG_FILE
    if not path.is_file():
        what = "no such file" if not path.exists() else "not a file"
        print(f"cockpit: {path}: {what}", file=sys.stderr)
        return EXIT_INVALID
    try:
        config = load_config(path.parent, path)
    except ConfigError as exc:
        problems = str(exc).splitlines()
        print(f"{path}: {len(problems)} problem(s)", file=sys.stderr)
        for line in problems:
            print(f"  {line}", file=sys.stderr)
        return EXIT_INVALID
    backends = ", ".join(f"{name} ({kind.kind})" for name, kind in config.backends.items())
    print(f"{path}: OK (backends: {backends}; default: {config.default_backend})")
    return 0
