"""Client test fixtures: clients on a fake clock, so retries and waits cost no time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from client_helpers import BASE, TOKEN, ClientFactory, FakeClock

from airflow_provider_hubassoc.client import (
    HubSpotClient,
    RateGovernor,
    RetryPolicy,
    StaticTokenProvider,
    TokenProvider,
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_client(clock: FakeClock) -> Iterator[ClientFactory]:
    """Build a client on the fake clock (no jitter, so waits are exact)."""
    made: list[HubSpotClient] = []

    def factory(
        *,
        token_provider: TokenProvider | None = None,
        max_attempts: int = 6,
        total_timeout_s: float = 300.0,
        governor: RateGovernor | None = None,
        **kwargs: Any,
    ) -> HubSpotClient:
        client = HubSpotClient(
            kwargs.pop("base_url", BASE),
            token_provider=token_provider or StaticTokenProvider(TOKEN),
            governor=governor or RateGovernor(100, 10.0, clock=clock.now),
            retry=RetryPolicy(
                max_attempts=max_attempts,
                total_timeout_s=total_timeout_s,
                jitter=False,
                sleep=clock.sleep,
                clock=clock.now,
            ),
            **kwargs,
        )
        made.append(client)
        return client

    yield factory
    for client in made:
        client.close()
