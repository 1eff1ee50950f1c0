"""Looking for a run's success markers: fetched into the mirror, the metrics JSON read.

A run is never called succeeded before this found and read its artifacts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from backends.base import Backend, RunHandle
from backends.s3 import S3Artifacts
from cockpit.core.health import ArtifactCheck


async def check_artifacts(
    backend: Backend,
    handle: RunHandle,
    markers: Sequence[str],
    dest: Path,
    store: S3Artifacts | None = None,
) -> ArtifactCheck:
    """Copy the markers into `dest` — from the artifact store (checked with `head_object`)
    first, then from the run directory — and say which were found and whether the JSON ones
    parse."""
    copied: list[Path] = []
    wanted = list(markers)
    if store is not None:
        present = [m for m in wanted if await store.exists(handle.run_id, m)]
        copied += await store.pull(handle.run_id, present, dest)
        wanted = [m for m in wanted if m not in present]
    if wanted:
        copied += await backend.fetch_artifacts(handle, wanted, dest)
    names = {path.name for path in copied}
    found = tuple(m for m in markers if Path(m).name in names)
    missing = tuple(m for m in markers if Path(m).name not in names)
    metrics_error = None
    for path in copied:
        if path.suffix == ".json":
            try:
                json.loads(path.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError) as exc:
                metrics_error = f"{path.name}: {exc}"
    return ArtifactCheck(found, missing, metrics_error)
