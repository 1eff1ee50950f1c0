"""The supervisor process (`cockpit supervise`): one per project, the only writer of runs.

Its parts are separate objects, each given the context and the parts it calls; see `core`
for how they are put together and `context.KILL_POINTS` for the points where it may die.
"""

from cockpit.supervisor.context import RequestRefused
from cockpit.supervisor.core import Supervisor

__all__ = ["RequestRefused", "Supervisor"]
