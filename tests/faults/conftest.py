"""The fault suite's own guarantee: no provider ever receives an item another provider sealed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tests.support.fake_provider import FakeProvider


@pytest.fixture
async def fakes(fakes: Callable[..., Awaitable[list[FakeProvider]]]) -> AsyncIterator[Callable[..., Awaitable[list[FakeProvider]]]]:
    started: list[FakeProvider] = []

    async def make(*names: str) -> list[FakeProvider]:
        out = await fakes(*names)
        started.extend(out)
        return out

    yield make
    leaks = {fake.name: fake.foreign_sealed for fake in started if fake.foreign_sealed}
    assert not leaks, f"providers received items sealed by another provider: {leaks}"
