"""Adding a row to the researcher's plan file without ever overwriting their edit.

The plan is theirs and their editor may save at any moment. On Linux cockpit takes a write
*lease* on the file — a lock no editor can hold or ignore: it is granted only while no other
process has the file open, and while cockpit holds it any other `open` of the file waits — then
reads it, inserts the row in place and lets go, within milliseconds. An editor that saves
meanwhile writes after the row, onto the new text.

Where a lease cannot be had (another OS, a filesystem without leases, a file someone keeps open
such as a `tail -f`), it falls back to a compare-and-swap: read, add the row, write a temporary
file, check the plan still holds what was read (same bytes, same inode), replace. POSIX has no
atomic compare-and-replace, so an edit can still land between the check and the replace — in the
file just replaced, which cockpit keeps open: it reads that file again after the replace and adds
what was appended there (an editor's append) to the new plan, or, when it cannot merge, keeps
that version next to the plan and says so. That narrows the gap without closing it: a writer
that opened the plan before the replace and writes after the settle re-read (SETTLE_S) writes
into the replaced file, unseen. Only the lease closes it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from cockpit.core.plan import Plan, PlanError, log_row_insertion, parse_plan, set_state


class PlanUnavailable(Exception):
    """The plan is missing or does not parse: the row waits until it is back."""


class EditKeptAside(Exception):
    """An edit raced the replace in a way that cannot be merged: it was kept beside the plan."""

    def __init__(self, aside: Path) -> None:
        self.aside = aside
        super().__init__(f"an edit made while cockpit wrote the plan is kept in {aside}")


def has_row(plan: Plan, run_id: str) -> bool:
    return any(run_id in (cell.strip() for cell in row) for row in plan.log_rows)


LEASE_TRIES = 500
"""How often to try for the lease (a few milliseconds apart) before the compare-and-swap."""


def add_log_row(
    path: Path,
    run_id: str,
    cells_for: Callable[[Plan], dict[str, str]],
    attempts: int = 1000,
) -> bool:
    """Add the iteration-log row of `run_id` (its cells from the plan as it is then) unless the
    plan has one. True if this call added it."""
    for _ in range(LEASE_TRIES):
        fd = _leased(path)
        if fd is None:
            break  # no leases here: compare-and-swap
        if fd < 0:
            time.sleep(0.002)  # open elsewhere right now (an editor saving): try again
            continue
        try:
            return _insert_in_place(fd, path, run_id, cells_for)
        finally:
            with contextlib.suppress(OSError):
                fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
            os.close(fd)
    return _add_by_replace(path, run_id, cells_for, attempts)


def set_plan_state(path: Path, state: str) -> None:
    """Rewrite only the state header's value (its label and language kept), never over an
    edit: under the write lease in place, else by compare-and-swap (same bytes, same inode)."""
    for _ in range(LEASE_TRIES):
        fd = _leased(path)
        if fd is None:
            break
        if fd < 0:
            time.sleep(0.002)
            continue
        try:
            plan = _parse(_read_all(fd), path)
            if plan.state == state:
                return
            new = set_state(plan, state).encode("utf-8")
            written = 0
            while written < len(new):
                written += os.pwrite(fd, new[written:], written)
            os.ftruncate(fd, len(new))
            os.fsync(fd)
            return
        finally:
            with contextlib.suppress(OSError):
                fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
            os.close(fd)
    for _ in range(100):
        fd = _open(path)
        try:
            data = _read_all(fd)
            plan = _parse(data, path)
            if plan.state == state:
                return
            temporary = _write_temporary(path, set_state(plan, state).encode("utf-8"))
            if _read_all(fd) != data or not _same_inode(path, fd):
                temporary.unlink()
                continue
            os.replace(temporary, path)
            return
        finally:
            os.close(fd)
    raise PlanUnavailable(f"{path.name} kept changing; its state was not set to {state}")


_BUSY = -1
SETTLE_S = 0.02


def _leased(path: Path) -> int | None:
    """The plan opened for writing under a write lease; `_BUSY` while another process has it
    open; None where leases are not to be had."""
    if not hasattr(fcntl, "F_SETLEASE"):
        return None
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError as exc:
        raise PlanUnavailable(f"{path.name} is missing") from exc
    except OSError:
        return None  # not writable this way (permissions): the replace says what is wrong
    try:
        # A lease break is signalled (SIGIO would end the process): SIGURG is ignored.
        fcntl.fcntl(fd, fcntl.F_SETSIG, signal.SIGURG)
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_WRLCK)
    except BlockingIOError:
        os.close(fd)
        return _BUSY
    except OSError:
        os.close(fd)
        return None
    return fd


def _insert_in_place(
    fd: int, path: Path, run_id: str, cells_for: Callable[[Plan], dict[str, str]]
) -> bool:
    """Insert the row into the leased file: nobody else has it open until the lease goes."""
    data = _read_all(fd)
    plan = _parse(data, path)
    if has_row(plan, run_id):
        return False
    at, row = log_row_insertion(plan, cells_for(plan))
    offset = len(plan.text[:at].encode("utf-8"))
    tail = row.encode("utf-8") + data[offset:]
    written = 0
    while written < len(tail):  # the file only grows: no truncation, no moment without data
        written += os.pwrite(fd, tail[written:], offset + written)
    os.fsync(fd)
    return True


def _add_by_replace(
    path: Path,
    run_id: str,
    cells_for: Callable[[Plan], dict[str, str]],
    attempts: int,
) -> bool:
    """The compare-and-swap of the module's docstring."""
    base: bytes | None = None  # the text the row goes into: the file's, plus any edit merged
    expected: bytes | None = None  # what the file must hold at the replace
    splice: tuple[int, bytes] | None = None  # byte offset in `base` and the row's bytes
    for _ in range(attempts):
        fd = _open(path)
        try:
            current = _read_all(fd)
            if expected is None or current != expected:
                base, splice = _rebase(path, base, expected, splice, current)
                expected = current
            assert base is not None
            if splice is None:
                plan = _parse(base, path)
                if has_row(plan, run_id) and base == current:
                    return False
                if not has_row(plan, run_id):
                    at, row = log_row_insertion(plan, cells_for(plan))
                    splice = (len(plan.text[:at].encode("utf-8")), row.encode("utf-8"))
            updated = base if splice is None else base[: splice[0]] + splice[1] + base[splice[0] :]
            temporary = _write_temporary(path, updated)
            # Compare, then swap: the same bytes through the same open file, at the same inode.
            if _read_all(fd) != expected or not _same_inode(path, fd):
                temporary.unlink()
                continue
            os.replace(temporary, path)
            # The old file: did an edit land between check and swap? A writer that opened it
            # just before the swap writes within moments: look again after a short settle.
            replaced = _read_all(fd)
            if replaced == expected:
                time.sleep(SETTLE_S)
                replaced = _read_all(fd)
            if replaced == expected:
                return True
            now = _read_or_empty(path)
            if replaced.startswith(expected) and now.startswith(updated):
                # An append (the usual editor's save, a shell's >>) went into the old file:
                # add it after what the new file holds, then try again.
                base = base + replaced[len(expected) :] + now[len(updated) :]
                expected = now
                splice = None
                continue
            raise EditKeptAside(_keep_aside(path, replaced))
        finally:
            os.close(fd)
    raise RuntimeError(f"{path} kept changing; the result row was not written")


def _rebase(
    path: Path,
    base: bytes | None,
    expected: bytes | None,
    splice: tuple[int, bytes] | None,
    current: bytes,
) -> tuple[bytes, tuple[int, bytes] | None]:
    """The text to add the row to, now that the file holds `current` (not `expected`)."""
    if base is None or expected is None:
        return current, None
    if current.startswith(expected) and expected.endswith(b"\n"):
        appended = current[len(expected) :]
        # Lines appended after the end move nothing before them: the row's place stays, unless
        # they could be table rows (the log table may end the file).
        prose = not any(line.lstrip().startswith(b"|") for line in appended.splitlines())
        return base + appended, splice if prose else None
    if base != expected:
        _keep_aside(path, base)  # a merged edit, and then the file was rewritten: keep both
    return current, None


def _open(path: Path) -> int:
    try:
        return os.open(path, os.O_RDONLY)
    except FileNotFoundError as exc:
        raise PlanUnavailable(f"{path.name} is missing") from exc
    except OSError as exc:
        raise PlanUnavailable(f"{path.name} cannot be read: {exc.strerror}") from exc


def _parse(data: bytes, path: Path) -> Plan:
    try:
        return parse_plan(data.decode("utf-8"), path)
    except (UnicodeDecodeError, PlanError) as exc:
        raise PlanUnavailable(f"{path.name} cannot be read: {exc}") from exc


def _read_all(fd: int) -> bytes:
    chunks = []
    offset = 0
    while chunk := os.pread(fd, 1 << 20, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _read_or_empty(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _same_inode(path: Path, fd: int) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except OSError:
        return False


def _write_temporary(path: Path, data: bytes) -> Path:
    temporary = path.with_name(f".{path.name}.cockpit-tmp")
    temporary.write_bytes(data)
    with contextlib.suppress(OSError):
        os.chmod(temporary, path.stat().st_mode & 0o7777)
    return temporary


def _keep_aside(path: Path, data: bytes) -> Path:
    aside = path.with_name(f"{path.name}.edit-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    aside.write_bytes(data)
    return aside
