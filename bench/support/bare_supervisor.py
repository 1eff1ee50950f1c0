"""The supervisor idle baseline: an asyncio process that each second writes a heartbeat row to
a SQLite file in WAL mode, the least any supervisor does. Usage: bare_supervisor.py FOLDER"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import time
from pathlib import Path


async def main(folder: Path) -> None:
    conn = sqlite3.connect(folder / "bare.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE heartbeat (id INTEGER PRIMARY KEY, pid INTEGER, t REAL)")
    print("ready", flush=True)
    while True:
        conn.execute(
            "INSERT INTO heartbeat (id, pid, t) VALUES (1, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET t = excluded.t",
            (os.getpid(), time.time()),
        )
        await asyncio.sleep(1.0)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
