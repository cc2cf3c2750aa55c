"""Client test fixtures: clients on a fake clock, so retries and waits cost no time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_hubassoc.client.api import HubSpotClient
from tests.support.client_doubles import ClientFactory, FakeClock, fake_clock_client


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_client(clock: FakeClock) -> Iterator[ClientFactory]:
    """Build clients on the fake clock; each is closed at the end of the test."""
    made: list[HubSpotClient] = []

    def factory(**kwargs: Any) -> HubSpotClient:
        client = fake_clock_client(clock, **kwargs)
        made.append(client)
        return client

    yield factory
    for client in made:
        client.close()
