"""Run artifacts in S3 (or any S3-compatible store), through aioboto3.

Training code writes `s3://<bucket>/<prefix>/<run_id>/` (it finds the URI in
`COCKPIT_ARTIFACTS_URI`): the success markers, the metrics JSON, checkpoints, and optionally its
logs under `logs/<source>.log`. Cockpit checks markers with `head_object`, pulls them into the
run's mirror, and reads uploaded logs when the machine that ran is gone. Credentials come from
the usual AWS chain and are never printed.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import aioboto3
from botocore.exceptions import BotoCoreError, ClientError

from backends.base import LogSource, RunHandle


class S3Error(Exception):
    """The store could not be read; the message names the bucket, never a credential."""


class S3Artifacts:
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        self.region = region
        self._session = aioboto3.Session()

    def key(self, run_id: str, name: str) -> str:
        parts = [self.prefix, run_id, name] if self.prefix else [run_id, name]
        return "/".join(parts)

    def uri(self, run_id: str) -> str:
        return f"s3://{self.bucket}/{self.key(run_id, '')}"

    def _client(self) -> Any:
        return self._session.client("s3", endpoint_url=self.endpoint_url, region_name=self.region)

    async def exists(self, run_id: str, name: str) -> bool:
        async with self._client() as s3:
            try:
                await s3.head_object(Bucket=self.bucket, Key=self.key(run_id, name))
            except (ClientError, BotoCoreError) as exc:
                if _missing(exc):
                    return False
                raise self._error(exc) from exc
        return True

    async def read(self, run_id: str, name: str) -> bytes | None:
        async with self._client() as s3:
            try:
                answer = await s3.get_object(Bucket=self.bucket, Key=self.key(run_id, name))
                async with answer["Body"] as body:
                    return bytes(await body.read())
            except (ClientError, BotoCoreError) as exc:
                if _missing(exc):
                    return None
                raise self._error(exc) from exc

    def _error(self, exc: Exception) -> S3Error:
        """The failure in words, naming the bucket and never a credential."""
        detail = _code(exc) if isinstance(exc, ClientError) else type(exc).__name__
        return S3Error(f"s3://{self.bucket}: {detail}")

    async def read_json(self, run_id: str, name: str) -> dict[str, Any] | None:
        data = await self.read(run_id, name)
        if data is None:
            return None
        try:
            parsed = json.loads(data)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None

    async def pull(self, run_id: str, names: Sequence[str], dest: Path) -> list[Path]:
        """Download the named objects that exist into `dest`."""
        dest.mkdir(parents=True, exist_ok=True)
        pulled = []
        for name in names:
            data = await self.read(run_id, name)
            if data is not None:
                target = dest / Path(name).name
                target.write_bytes(data)
                pulled.append(target)
        return pulled


class S3LogSource:
    """Uploaded logs as a stream source: the bytes past `offset`, once (for a run whose
    machine is gone)."""

    def __init__(self, store: S3Artifacts) -> None:
        self.store = store

    async def stream(
        self, handle: RunHandle, source: LogSource, offset: int
    ) -> AsyncIterator[bytes]:
        data = await self.store.read(handle.run_id, f"logs/{source.value}.log")
        if data and len(data) > offset:
            yield data[offset:]


def _missing(exc: Exception) -> bool:
    """A 404 from head_object or get_object: the object is not there (not an error)."""
    if not isinstance(exc, ClientError):
        return False
    return exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")


def _code(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return f"{error.get('Code', 'error')}: {error.get('Message', '')}".strip()
