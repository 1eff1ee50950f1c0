"""The reference pages are generated from the code; a stale page fails here
(regenerate with `python -m tools.docgen`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.docgen import PAGES

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.parametrize("page", sorted(PAGES))
def test_generated_reference_is_current(page: str) -> None:
    committed = (DOCS / page).read_text(encoding="utf-8")
    assert committed == PAGES[page](), f"docs/{page} is stale: run python -m tools.docgen"


def test_every_config_key_and_binding_is_documented() -> None:
    from cockpit.core.binding_ids import BINDING_IDS

    config = (DOCS / "reference" / "config.md").read_text()
    for key in ("cost.run_cap", "recover.on", "preflight.smoke", "artifacts.bucket", "gpu_type"):
        assert f"`{key}`" in config
    keys = (DOCS / "reference" / "keys.md").read_text()
    assert all(f"`{binding}`" in keys for binding in BINDING_IDS)


async def test_screenshots_are_current(user_config: Path) -> None:
    from tools.showcase import screenshots

    for relative, svg in (await screenshots()).items():
        assert (DOCS / relative).read_text(encoding="utf-8") == svg, (
            f"docs/{relative} is stale: run python -m tools.docgen"
        )
