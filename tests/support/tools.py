"""External tools the heavier tests need (Codex CLI, Chromium, the GUI stack)."""

from __future__ import annotations

import os

import pytest


def missing(why: str) -> None:
    """Skip when pytest is run by hand; fail under ``python3 tasks.py test``, which installs every
    tool first, so a missing one there is a real defect and not a reason to pass quietly."""
    if os.environ.get("API_ROUTER_TASKS"):
        pytest.fail(f"{why} (python3 tasks.py test should have installed it)")
    pytest.skip(why)
