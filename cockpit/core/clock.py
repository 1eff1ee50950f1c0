"""The one clock type: wall-clock seconds, `time.time` in the product and a fake in tests.

The supervisor, its log pumps and the screens take a `Clock` so tests can move time without
sleeping (backends take the same shape; they cannot import cockpit).
"""

from __future__ import annotations

from collections.abc import Callable

Clock = Callable[[], float]
