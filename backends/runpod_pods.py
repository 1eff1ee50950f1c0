"""Reading RunPod's pod records: what a pod's fields say (its SSH address, whether it is
terminated or was preempted) and the public key a new pod is given. Pure, no API calls."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import asyncssh

from backends.runpod_api import RunPodError

PREEMPTED_WORDS = ("outbid", "preempt", "spot", "interrupt")


def ssh_address(pod: Mapping[str, Any], required: bool = True) -> tuple[str, int]:
    """The public IP and port of the pod's port 22 (`runtime.ports`)."""
    runtime = pod.get("runtime") or {}
    for port in runtime.get("ports") or []:
        if port.get("privatePort") == 22 and port.get("isIpPublic") and port.get("publicPort"):
            return str(port["ip"]), int(port["publicPort"])
    if required:
        raise RunPodError(f"pod {pod.get('id')} has no public SSH port")
    return ()  # type: ignore[return-value]


def terminated(pod: Mapping[str, Any]) -> bool:
    """Shown once as "Terminated by ..." before it leaves the list."""
    return str(pod.get("lastStatusChange", "")).startswith("Terminated")


def preempted_by(status: str) -> bool:
    """`lastStatusChange` of a spot pod that was outbid or interrupted."""
    return any(word in status.lower() for word in PREEMPTED_WORDS)


def public_key(identity_file: Path) -> str:
    """The public half of the SSH identity, for the pod's PUBLIC_KEY."""
    public = identity_file.with_name(identity_file.name + ".pub")
    if public.exists():
        return public.read_text().strip()
    return asyncssh.read_private_key(str(identity_file)).export_public_key().decode().strip()
