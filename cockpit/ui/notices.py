"""What the cockpit says in toasts: one toast per event, at most `MAX_TOASTS` on screen, and
every one kept for the history screen (`m`).

One event, one toast: a toast said with a `key` replaces the one on screen with the same key —
a request's "requested" becomes its outcome, a run's "stopped" replaces the stop request that
caused it — and a message already on screen is not said twice.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from textual.dom import DOMNode
from textual.notifications import Notification, Notify, SeverityLevel

MAX_TOASTS = 3
"""Toasts on screen at once; an older one makes room (it stays in the history)."""
HISTORY = 500
"""Messages kept for the history screen."""


@dataclass(frozen=True)
class Notice:
    at: float
    severity: str
    message: str


class Notices:
    """The app's: decides which toasts show and keeps the history."""

    def __init__(self) -> None:
        self.history: deque[Notice] = deque(maxlen=HISTORY)
        """Newest last."""
        self._keys: dict[str, str] = {}
        """A key to the identity of its latest notification."""
        self._key_of: dict[str, str] = {}

    def keyed(self, key: str, notification: Notification) -> None:
        self._keys[key] = notification.identity
        self._key_of[notification.identity] = key
        if len(self._key_of) > 4 * HISTORY:  # toasts that timed out: forget their keys
            latest = set(self._keys.values())
            self._key_of = {i: k for i, k in self._key_of.items() if i in latest}

    def arrive(
        self, new: Notification, showing: list[Notification]
    ) -> tuple[bool, list[Notification]]:
        """(whether `new` shows, the toasts it takes off screen)."""
        self.history.append(Notice(new.raised_at, new.severity, new.message))
        key = self._key_of.get(new.identity)
        replaced = [n for n in showing if key is not None and self._key_of.get(n.identity) == key]
        remaining = [n for n in showing if n not in replaced]
        if any((n.message, n.severity) == (new.message, new.severity) for n in remaining):
            return False, replaced
        crowded = remaining[: max(0, len(remaining) - (MAX_TOASTS - 1))]
        for gone in replaced + crowded:
            self._key_of.pop(gone.identity, None)
        return True, replaced + crowded


def say(
    node: DOMNode,
    message: str,
    *,
    key: str,
    severity: SeverityLevel = "information",
    timeout: float | None = None,
) -> None:
    """A toast for the event `key` names, replacing the one on screen for the same event."""
    app = node.app
    notification = Notification(
        message, "", severity, app.NOTIFICATION_TIMEOUT if timeout is None else timeout
    )
    notices = getattr(app, "notices", None)
    if isinstance(notices, Notices):
        notices.keyed(key, notification)
    app.post_message(Notify(notification))
