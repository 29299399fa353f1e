from __future__ import annotations

import gc
import itertools
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from api_router.paths import Paths
from tests.support.fake_provider import FakeProvider
from tests.support.harness import Harness, start_harness, write_config, write_keys

_XDG = tempfile.TemporaryDirectory(prefix="api-router-tests-xdg-")


def pytest_configure(config: pytest.Config) -> None:
    # The app's "start with the system" writes the user's real login items; no test may touch them.
    # Set before anything runs, so every app (in process or started as a child) inherits it.
    os.environ["XDG_CONFIG_HOME"] = _XDG.name


def pytest_unconfigure(config: pytest.Config) -> None:
    _XDG.cleanup()


_tests_begun = itertools.count(1)
_COLLECT_EVERY = 100  # tests


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Keeps full garbage collections out of the tests' timed windows. Fakes, gateway and client share one
    event loop, so a collection of the heap a long run builds (0.2–0.35 s) stalls them all at once, and a
    timer that runs out in the stall fails a healthy test. What earlier tests left is frozen (no
    collection scans it) and collected here, between tests, every hundred tests."""
    if next(_tests_begun) % _COLLECT_EVERY == 0:
        gc.unfreeze()
        gc.collect()
    gc.freeze()


@pytest.fixture
def codex_root(tmp_path: Path) -> Path:
    """Where Codex's files go (tests/e2e puts them in memory)."""
    return tmp_path


@pytest.fixture
def codex_home(codex_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The gateway's CODEX_HOME (it reads Codex's session files there)."""
    home = codex_root / "codex-home"
    (home / "sessions").mkdir(parents=True)
    monkeypatch.setenv("CODEX_HOME", str(home))
    return home


@pytest.fixture
async def fakes() -> AsyncIterator[Callable[..., Awaitable[list[FakeProvider]]]]:
    started: list[FakeProvider] = []

    async def make(*names: str) -> list[FakeProvider]:
        out = [await FakeProvider(n).start() for n in names]
        started.extend(out)
        return out

    yield make
    for fake in started:
        await fake.stop()


@pytest.fixture
async def gateway(tmp_path: Path, codex_home: Path) -> AsyncIterator[Callable[..., Awaitable[Harness]]]:
    """``await gateway({"p1": fake1, "p2": fake2}, routing={...}, keys={...})`` -> a running app."""
    harnesses: list[Harness] = []

    async def make(providers: dict[str, Any], *, routing: dict[str, Any] | None = None,
                   keys: dict[str, str] | None = None, listen: dict[str, Any] | None = None,
                   order: list[str] | None = None) -> Harness:
        paths = Paths(tmp_path / f"user-data-{len(harnesses)}")
        write_config(paths, providers, routing=routing, listen=listen, order=order)
        write_keys(paths, keys if keys is not None else {pid: f"sk-test-{pid}-0123456789" for pid in providers})
        harness = await start_harness(paths.user_data)
        harnesses.append(harness)
        return harness

    yield make
    for harness in harnesses:
        await harness.close()
