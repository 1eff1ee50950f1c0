"""The CLI commands that read the store or send requests: runs, logs, launch, stop,
raise-cap, ps. They never import Textual (scripts, agents and tmux call them often)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from cockpit.core.config import CockpitConfig
from cockpit.core.paths import ProjectPaths
from cockpit.core.protocol import (
    OPEN_REQUESTS,
    TERMINAL_STATES,
    Command,
    Guard,
    LaunchRequest,
    RaiseCapRequest,
    RequestStatus,
    RunState,
    RunWarning,
    StopRequest,
)
from cockpit.core.records import RunRecord
from cockpit.store.reader import StoreReader

EXIT_USAGE = 2


def _reader(project: Path) -> StoreReader | None:
    paths = ProjectPaths(project)
    if not paths.db.exists():
        return None
    return StoreReader(paths.db, read_only=True)


def runs(args: argparse.Namespace, project: Path, config: CockpitConfig) -> int:
    from cockpit.cli.listing import print_runs

    return print_runs(project, args.json, args.limit)


READ_CHUNK = 1024 * 1024


def pick_run(reader: StoreReader | None, name: str, only_active: bool = False) -> RunRecord | None:
    """The run `name` means: its id or a prefix of one. Several matches are listed, unless
    `only_active` and exactly one of them is active (what `stop` can mean); None after saying
    why on stderr."""
    found = reader.runs_matching(name) if reader else []
    if not found:
        print(f"cockpit: no run {name!r} (`cockpit runs` lists them)", file=sys.stderr)
        return None
    if len(found) == 1:
        return found[0]
    active = [run for run in found if run.active]
    if only_active and len(active) == 1:
        print(
            f"cockpit: {name!r} matches {len(found)} runs; taking {active[0].id}, the only "
            "active one",
            file=sys.stderr,
        )
        return active[0]
    listed = ", ".join(f"{run.id} ({run.state})" for run in found[:10])
    more = f" and {len(found) - 10} more" if len(found) > 10 else ""
    print(
        f"cockpit: {name!r} matches {len(found)} runs: {listed}{more}; give more of the id",
        file=sys.stderr,
    )
    return None


def logs(args: argparse.Namespace, project: Path, config: CockpitConfig) -> int:
    reader = _reader(project)
    run = pick_run(reader, args.run)
    if run is None or reader is None:
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
                data = handle.read(READ_CHUNK)  # a 500 MB mirror is printed, not loaded
        except FileNotFoundError:
            data = b""
        if data:
            out.write(data)
            out.flush()
            offset += len(data)
            continue  # there may be more already
        if not args.follow or ended:
            return 0  # `ended` was read before the file: nothing written before it is missed
        time.sleep(0.2)  # following: wait for the supervisor to append


def _confirm(question: str, yes: bool) -> bool | None:
    """True/False from the user; None when there is no terminal to ask and no --yes."""
    if yes:
        return True
    if not sys.stdin.isatty():
        return None
    answer = input(f"{question} [y/N] ").strip().lower()
    return answer in ("y", "yes")


def send_request(project: Path, command: Command) -> tuple[StoreReader, str]:
    from cockpit.ui.client import client_name, ensure_supervisor

    paths = ProjectPaths(project)
    reader = StoreReader(paths.db)  # read-write: creates the store, migrates it
    request_id = reader.submit_request(command, client_name("cli"))
    ensure_supervisor(paths)
    return reader, request_id


def launch(args: argparse.Namespace, project: Path, config: CockpitConfig) -> int:
    from cockpit.ui.client import wait_for_request

    backend = args.backend or config.default_backend
    wanted: list[str] = list(args.hypothesis)
    answer = _confirm(f"Launch {', '.join(wanted)} on {backend}?", args.yes)
    if answer is False:
        print("not launched")
        return 1
    requests = []
    reader: StoreReader | None = None
    for hypothesis in wanted:  # all sent at once: the supervisor takes them in this order
        command = LaunchRequest(
            hypothesis, backend=args.backend or None, allow_dirty=bool(args.allow_dirty)
        )
        reader, request_id = send_request(project, command)
        requests.append((hypothesis, request_id))
    assert reader is not None
    launched, failed = [], False
    for hypothesis, request_id in requests:
        request = wait_for_request(reader, request_id, timeout_s=120)
        if request.status != RequestStatus.DONE or request.run_id is None:
            why = request.result or "no answer from the supervisor"
            name = f" {hypothesis}" if len(wanted) > 1 else ""
            print(f"cockpit: launch{name} {request.status}: {why}", file=sys.stderr)
            failed = True
            continue
        print(request.run_id, flush=True)
        launched.append(request.run_id)
    code = 1 if failed else 0
    if args.wait:  # each chain to its end, in launch order: 0 only if every one succeeded
        for run_id in launched:
            ended = _follow_chain(reader, run_id, ProjectPaths(project))
            code = code or ended
    return code


EXIT_NO_OUTCOME = 3
"""The wait ended without an outcome: `launch --wait` found no supervisor it could start for a
minute; `stop --yes` saw the stop still under way after 300 s."""
SUPERVISOR_CHECK_S = 2.0
UNSUPERVISED_GIVE_UP_S = 60.0


def _follow_chain(reader: StoreReader, run_id: str, paths: ProjectPaths) -> int:
    """Follow a run and its automatic relaunches; 0 only if the last attempt succeeded. A
    supervisor that dies meanwhile is restarted (as every client does); one that cannot be
    for a minute ends the wait with EXIT_NO_OUTCOME."""
    from cockpit.ui.client import ensure_supervisor, supervisor_running

    seen = ""
    checked, gone_since = time.monotonic(), None
    while True:
        now = time.monotonic()
        if now - checked >= SUPERVISOR_CHECK_S:
            checked = now
            if supervisor_running(paths):
                gone_since = None
            elif gone_since is None:
                gone_since = now
                print("cockpit: the supervisor is gone; starting one", file=sys.stderr)
                ensure_supervisor(paths)
            elif now - gone_since > UNSUPERVISED_GIVE_UP_S:
                print(
                    f"cockpit: no supervisor for {UNSUPERVISED_GIVE_UP_S:.0f} s; {run_id} is not "
                    f"supervised (see {paths.supervisor_log})",
                    file=sys.stderr,
                )
                return EXIT_NO_OUTCOME
        run = reader.run(run_id)
        if run is None:
            return 1
        line = f"{run.id}: {run.state} {', '.join(run.warnings)} {run.detail}"
        if line != seen:
            seen = line
            print(" ".join(line.split()), file=sys.stderr)
        if run.state in TERMINAL_STATES:
            if run.state == RunState.SUCCEEDED:
                return 0
            if run.state == RunState.FAILED and not run.guard:
                # A relaunch was scheduled in the same commit as the failure: follow it.
                child = next((r for r in reader.runs(limit=50) if r.parent == run.id), None)
                if child is not None:
                    print(f"{run.id}: relaunched as {child.id} (attempt {child.attempt})",
                          file=sys.stderr)  # fmt: skip
                    run_id = child.id
                    continue
            else:
                if run.guard and run.guard_kind != Guard.STOPPED_ON_REQUEST:
                    print(f"{run.id}: not relaunched: {run.guard}", file=sys.stderr)
                return 1
        time.sleep(0.2)


def raise_cap(args: argparse.Namespace, project: Path, config: CockpitConfig) -> int:
    from cockpit.core.launch_spec import RequestRefused, find_hypothesis
    from cockpit.ui.client import wait_for_request

    if args.plan:
        command = RaiseCapRequest(args.target, float(args.dollars))
    else:
        try:
            _, plan_rel, hyp = find_hypothesis(project, config.plans, args.target, None)
        except RequestRefused as exc:
            print(f"cockpit: {exc}", file=sys.stderr)
            return 1
        command = RaiseCapRequest(plan_rel, float(args.dollars), hypothesis=hyp.id)
    reader, request_id = send_request(project, command)
    request = wait_for_request(reader, request_id, timeout_s=60)
    if request.status != RequestStatus.DONE:
        print(f"cockpit: raise-cap {request.status}: {request.result}", file=sys.stderr)
        return 1
    print(request.result)
    return 0


def stop(args: argparse.Namespace, project: Path, config: CockpitConfig) -> int:
    from cockpit.ui.client import wait_for_request

    reader = _reader(project)
    run = pick_run(reader, args.run, only_active=True)
    if run is None:
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
    writer, request_id = send_request(project, StopRequest(run.id))
    said = {"detail": ""}

    def progress() -> None:  # a stop can take a while (a host down): say what it waits for
        current = writer.run(run.id)
        if current is not None and current.detail and current.detail != said["detail"]:
            said["detail"] = current.detail
            print(f"{run.id}: {current.detail}", file=sys.stderr, flush=True)

    request = wait_for_request(
        writer, request_id, timeout_s=300, paths=ProjectPaths(project), progress=progress
    )
    if request.status in OPEN_REQUESTS:
        print(
            f"cockpit: {run.id} is still being stopped after 300 s (see `cockpit runs`); "
            "the supervisor keeps at it",
            file=sys.stderr,
        )
        return EXIT_NO_OUTCOME
    if request.status != RequestStatus.DONE:
        print(f"cockpit: stop {request.status}: {request.result}", file=sys.stderr)
        return 1
    final = writer.run(run.id)
    cost = final.cost_so_far if final else 0.0
    print(f"{run.id}: stopped (cost ${cost:.2f})")
    return 0


def ps(args: argparse.Namespace, project: Path, config: CockpitConfig) -> int:
    import asyncio

    from cockpit.core.backend_factory import billed_everywhere

    reader = _reader(project)
    known = {run.id: run for run in reader.runs()} if reader else {}
    billing = asyncio.run(billed_everywhere(config, ProjectPaths(project)))
    errors = billing.unanswered
    rows: list[dict[str, object]] = []
    for item in billing.resources:
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
                "terminate_failed": run is not None and RunWarning.TERMINATE_FAILED in run.warnings,
            }
        )
    if args.json:
        unchecked = [{"backend": name, "error": error} for name, error in errors.items()]
        json.dump(rows + unchecked, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 1 if errors else 0
    for name, error in errors.items():
        print(f"{name:<8} NOT CHECKED: {error}", file=sys.stderr)
    if not rows:
        print("nothing running on any configured backend" + (" that answered" if errors else ""))
        return 1 if errors else 0
    for row in rows:
        mark = "" if row["known"] else "  ORPHAN (store: " + str(row["store_state"]) + ")"
        if row["terminate_failed"]:
            mark = f"  TERMINATE FAILED, retrying (store: {row['store_state']})"
        print(
            f"{row['backend']:<8} {row['resource']:<14} run {row['run_id']} "
            f"age {row['age_s']}s ${row['cost_per_hour']}/h{mark}"
        )
    return 1 if errors else 0
