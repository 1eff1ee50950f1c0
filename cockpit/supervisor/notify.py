"""Announcing events outside the UI: a user command (event JSON on stdin) and tmux.

The supervisor runs these, so a cap reached at 3 a.m. is announced even with no UI open.
Failures here are logged and never stop supervision.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from cockpit.core.config import NotifyConfig

log = logging.getLogger("cockpit.notify")


class Notifier:
    def __init__(self, config: NotifyConfig, project: Path) -> None:
        self.config = config
        self.project = project
        self.project_name = project.name
        self._tasks: set[asyncio.Task[None]] = set()

    def send(self, event: dict[str, Any]) -> None:
        """Fire and forget: each notification runs as its own task."""
        task = asyncio.get_running_loop().create_task(self._send(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _send(self, event: dict[str, Any]) -> None:
        payload = json.dumps({"project": self.project_name, **event})
        if self.config.command:
            await self._run(["/bin/sh", "-c", self.config.command], (payload + "\n").encode())
        if self.config.tmux and os.environ.get("TMUX") and shutil.which("tmux"):
            text = f"cockpit {self.project_name}: {event.get('run_id') or ''} {event['message']}"
            await self._run(["tmux", "display-message", text.replace("#", "##")], None)

    async def _run(self, argv: list[str], stdin: bytes | None) -> None:
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                cwd=self.project,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            await asyncio.wait_for(process.communicate(stdin), timeout=30)
        except (OSError, TimeoutError) as exc:
            log.warning("notification %s failed: %s", argv[0], exc)
