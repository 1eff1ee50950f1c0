"""cockpit.toml, re-read by the running supervisor whenever it changes (checked every poll: one
`stat`), so a lowered cap or a changed policy takes effect within a poll.

A broken edit (TOML syntax, unknown key, bad value) keeps the last good config in force and
raises the standing alert `config`, naming the file, the key and the problem, until the file is
fixed. What is enforced is written to the store (`meta.enforced`) for every UI to show.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from cockpit.core.config import CONFIG_FILE, CockpitConfig, ConfigError, load_config
from cockpit.store.writer import Store

ALERT_KEY = "config"
Stamp = tuple[int, int, int] | None


def _stamp(path: Path) -> Stamp:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class LiveConfig:
    def __init__(
        self,
        project: Path,
        config: CockpitConfig,
        store: Store,
        on_change: Callable[[CockpitConfig, CockpitConfig], None],
        load: Callable[[Path], CockpitConfig] = load_config,
    ) -> None:
        self.path = project / CONFIG_FILE
        self.project = project
        self.store = store
        self.on_change = on_change
        self.load = load
        self._stamp = _stamp(self.path)
        store.set_meta("enforced", config.enforced_rules())
        self._config = config

    def check(self) -> bool:
        """Re-read the file if it changed; True when a new config took effect."""
        stamp = _stamp(self.path)
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            config = self.load(self.project)
        except ConfigError as exc:
            message = f"{exc}\nThe last good config stays in force until the file is fixed."
            if self.store.set_alert(ALERT_KEY, message):
                self.store.add_event(None, "alert", f"config not reloaded: {exc}")
            return False
        if self.store.clear_alert(ALERT_KEY):
            self.store.add_event(None, "config", f"{self.path.name} is valid again")
        if config == self._config:
            return False
        before, self._config = self._config, config
        changed = _changed_keys(before, config)
        with self.store.transaction():
            self.store.set_meta("enforced", config.enforced_rules())
            self.store.add_event(None, "config", f"config reloaded: {', '.join(changed)}")
        self.on_change(before, config)
        return True


def _changed_keys(before: CockpitConfig, after: CockpitConfig) -> list[str]:
    old, new = before.model_dump(), after.model_dump()
    keys: list[str] = []
    for name in new:
        if old.get(name) == new[name]:
            continue
        if isinstance(new[name], dict) and isinstance(old.get(name), dict):
            keys += [
                f"{name}.{key}"
                for key in sorted(set(new[name]) | set(old[name]))
                if old[name].get(key) != new[name].get(key)
            ]
        else:
            keys.append(name)
    return keys or ["(no key)"]
