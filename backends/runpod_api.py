"""RunPod's GraphQL API over httpx, with variables (never string-built queries).

The key comes from `RUNPOD_API_KEY` or `~/.runpod/config.toml`; it is sent only in the
Authorization header and scrubbed from every error message. Errors are sorted into what the
caller must do: stop asking (bad key), wait (429 with Retry-After), retry after checking state
(5xx, HTML 502, timeouts, "Something went wrong"), or give up with the reason (capacity).
"""

from __future__ import annotations

import os
import time
import tomllib
from pathlib import Path
from typing import Any

import httpx

DEFAULT_BASE = "https://api.runpod.io"

POD_FIELDS = """
id name desiredStatus costPerHr lastStatusChange imageName volumeInGb
machine { podHostId gpuDisplayName }
runtime {
  uptimeInSeconds
  ports { ip isIpPublic privatePort publicPort type }
  gpus { id gpuUtilPercent memoryUtilPercent }
}
"""
PODS_QUERY = "query Pods { myself { pods { " + POD_FIELDS + " } } }"
POD_QUERY = "query Pod($input: PodFilter!) { pod(input: $input) { " + POD_FIELDS + " } }"
CREATE_MUTATION = (
    "mutation Create($input: PodFindAndDeployOnDemandInput!) {"
    " podFindAndDeployOnDemand(input: $input) { " + POD_FIELDS + " } }"
)
STOP_MUTATION = (
    "mutation Stop($input: PodStopInput!) { podStop(input: $input) { id desiredStatus } }"
)
TERMINATE_MUTATION = (
    "mutation Terminate($input: PodTerminateInput!) { podTerminate(input: $input) }"
)

AUTH_BACKOFF_S = 5.0
AUTH_BACKOFF_MAX_S = 300.0
"""After a refused key, nothing is asked for this long, doubling up to the maximum."""

CAPACITY_PHRASES = (
    "no longer any instances available",
    "not enough free gpus",
    "no instances available",
)


class RunPodError(Exception):
    """Something RunPod said no to; the message is safe to show."""


class RunPodAuthError(RunPodError):
    """The API key was refused: asking again will not help."""


class RunPodCapacityError(RunPodError):
    """No GPU of the requested kind is free right now."""


class RunPodTransientError(RunPodError):
    """A 5xx, an HTML error page, a timeout or "Something went wrong": the action may or may
    not have happened; re-read state before doing it again."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def find_api_key(home: Path | None = None) -> str | None:
    key = os.environ.get("RUNPOD_API_KEY")
    if key:
        return key
    config = (home or Path.home()) / ".runpod" / "config.toml"
    try:
        data = tomllib.loads(config.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None
    value = data.get("default", {}).get("api_key")
    return str(value) if value else None


class RunPodApi:
    def __init__(
        self,
        api_key: str | None,
        base_url: str | None = None,
        timeout_s: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._key = api_key
        self.base_url = (base_url or os.environ.get("RUNPOD_API_BASE_URL") or DEFAULT_BASE).rstrip(
            "/"
        )
        self._client = httpx.AsyncClient(timeout=timeout_s, transport=transport)
        self.requests = 0
        """Requests sent so far (a poll must cost one)."""
        self.clock = time.monotonic
        self._quiet_until = 0.0
        """No request is sent before this (a 429's Retry-After, a refused key's backoff)."""
        self._refusals = 0
        self.auth_refused: str | None = None
        """Why RunPod refuses the key, while it does (cleared by the next success)."""

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    async def call(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        if not self._key:
            raise RunPodAuthError(
                "no RunPod API key: set RUNPOD_API_KEY or run `runpodctl config` "
                "(~/.runpod/config.toml)"
            )
        wait = self._quiet_until - self.clock()
        if wait > 0:  # asked to wait: nothing is sent until then, whoever asks
            if self.auth_refused:
                raise RunPodAuthError(f"{self.auth_refused} (asking again in {wait:.0f} s)")
            raise RunPodTransientError(f"RunPod rate limit: waiting {wait:.0f} s more", wait)
        self.requests += 1
        try:
            response = await self._client.post(
                f"{self.base_url}/graphql",
                json={"query": query, "variables": variables or {}},
                headers={"Authorization": f"Bearer {self._key}"},
            )
        except httpx.TimeoutException as exc:
            raise RunPodTransientError("RunPod did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise RunPodTransientError(self._scrub(f"cannot reach RunPod: {exc}")) from exc
        if response.status_code == 401:
            self._refusals += 1
            self.auth_refused = "RunPod refused the API key (HTTP 401): check RUNPOD_API_KEY"
            backoff = AUTH_BACKOFF_S * 2 ** (self._refusals - 1)
            self._quiet_until = self.clock() + min(AUTH_BACKOFF_MAX_S, backoff)
            raise RunPodAuthError(self.auth_refused)
        if response.status_code == 429:
            retry = response.headers.get("Retry-After", "")
            after = float(retry) if retry.replace(".", "", 1).isdigit() else 30.0
            self._quiet_until = self.clock() + after
            raise RunPodTransientError(f"RunPod rate limit (HTTP 429); retry in {after:g} s", after)
        self._refusals, self.auth_refused = 0, None  # the key is good
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise RunPodTransientError(
                f"RunPod answered HTTP {response.status_code} with a non-JSON page"
            )
        errors = body.get("errors")
        if errors:
            message = "; ".join(str(e.get("message", e)) for e in errors)
            message = self._scrub(message)
            lowered = message.lower()
            if any(phrase in lowered for phrase in CAPACITY_PHRASES):
                raise RunPodCapacityError(f"RunPod has no capacity: {message}")
            if "something went wrong" in lowered or response.status_code >= 500:
                raise RunPodTransientError(f"RunPod error: {message}")
            raise RunPodError(f"RunPod error: {message}")
        if response.status_code >= 500:
            raise RunPodTransientError(f"RunPod answered HTTP {response.status_code}")
        data = body.get("data")
        if not isinstance(data, dict):
            raise RunPodTransientError("RunPod answered without data")
        return data

    async def pods(self) -> list[dict[str, Any]]:
        data = await self.call(PODS_QUERY)
        myself = data.get("myself") or {}
        return list(myself.get("pods") or [])

    async def pod(self, pod_id: str) -> dict[str, Any] | None:
        """One pod by id, or None when RunPod says there is none (the list of `myself.pods`
        is eventually consistent: a pod can be missing from it and still run)."""
        try:
            data = await self.call(POD_QUERY, {"input": {"podId": pod_id}})
        except RunPodError as exc:
            if isinstance(exc, RunPodTransientError | RunPodAuthError):
                raise
            if "not found" in str(exc).lower():
                return None
            raise
        pod = data.get("pod")
        return pod if isinstance(pod, dict) else None

    async def create_pod(self, pod_input: dict[str, Any]) -> dict[str, Any]:
        data = await self.call(CREATE_MUTATION, {"input": pod_input})
        pod = data.get("podFindAndDeployOnDemand")
        if not isinstance(pod, dict):
            raise RunPodTransientError("RunPod created no pod and said nothing")
        return pod

    async def stop_pod(self, pod_id: str) -> None:
        await self.call(STOP_MUTATION, {"input": {"podId": pod_id}})

    async def terminate_pod(self, pod_id: str) -> None:
        await self.call(TERMINATE_MUTATION, {"input": {"podId": pod_id}})

    async def close(self) -> None:
        await self._client.aclose()
