"""Steps named as clients post them."""

from __future__ import annotations

from typing import Any

#: The domain's step names where the URL segment a client posts to differs (API.md).
STEP_PATHS = {
    "note": "notes",
    "score": "scores",
    "decide": "decision",
    "decide_appeal": "appeal-decision",
    "rectify": "rectified",
    "verify": "verification",
    "respond": "responses",
    "import": "responses/import",
}


def step_paths(steps: Any) -> list[str]:
    """Allowed steps as the URL segments a client posts to (`root_cause` → `root-cause`)."""
    return [STEP_PATHS.get(s, s.replace("_", "-")) for s in steps or []]
