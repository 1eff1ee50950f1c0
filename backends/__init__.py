"""Compute backends behind one contract: the supervisor drives them, nothing else does.

A backend knows how to start a run somewhere (a local process group, an SSH host, a cloud pod),
how to observe every run it holds in one call, how to stream each log source from a byte offset,
and how to stop *and* terminate a run, verifying that nothing keeps running or billing.
"""

from backends.base import (
    Backend,
    LogSource,
    Observation,
    RemoteResource,
    RunHandle,
    RunPhase,
    RunSpec,
)

__all__ = [
    "Backend",
    "LogSource",
    "Observation",
    "RemoteResource",
    "RunHandle",
    "RunPhase",
    "RunSpec",
]
