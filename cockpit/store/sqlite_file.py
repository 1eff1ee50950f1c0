"""The SQLite file under the store: switching it to WAL when processes open it together, what
to tell a person when it cannot be opened, and the float blobs metric samples are kept in."""

from __future__ import annotations

import sqlite3
import sys
import time
from array import array
from collections.abc import Iterable
from pathlib import Path


def pack_floats(values: Iterable[float]) -> bytes:
    """float64s as a `metric_blocks` blob (little-endian whatever the machine)."""
    packed = array("d", values)
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tobytes()


def unpack_floats(blob: bytes) -> array[float]:
    values = array("d")
    values.frombytes(blob)
    if sys.byteorder == "big":
        values.byteswap()
    return values


class StoreError(Exception):
    """The store cannot be opened or is from a newer cockpit."""


def use_wal(conn: sqlite3.Connection, patience_s: float = 10.0) -> None:
    """Switch a store to WAL. Processes opening a new store at the same moment (a UI and the
    supervisor it starts, on a project's first launch) each need the file to themselves for
    this, and SQLite answers "database is locked" at once instead of waiting (waiting could
    deadlock): try again until the others are done."""
    deadline = time.monotonic() + patience_s
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def store_problem(path: Path, exc: BaseException) -> str:
    """What to tell a person whose store cannot be opened; nothing is ever overwritten."""
    if isinstance(exc, sqlite3.OperationalError | OSError):
        return (
            f"cannot open the store {path}: {exc} (is {path.parent} writable, and the disk "
            "not full?)"
        )
    return (
        f"{path} is not a readable cockpit store ({exc}). Nothing was changed. To start a new "
        f"store, move it aside: mv {path} {path}.broken (the logs in {path.parent / 'runs'} "
        "are kept)."
    )


def connect(path: Path, read_only: bool, same_thread: bool = True) -> sqlite3.Connection:
    """The store's connection: read-only by URI, or read-write in WAL mode (the file and its
    folder made when missing); rows by name, a 5 s wait for locks. `same_thread=False` lets
    another thread use it (never two at once)."""
    if read_only:
        conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, isolation_level=None, timeout=5.0,
            check_same_thread=same_thread,
        )  # fmt: skip
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            path, isolation_level=None, timeout=5.0, check_same_thread=same_thread
        )
        use_wal(conn)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout=5000")
    return conn
