"""Fixtures for the read-back and trigger tests."""

from __future__ import annotations

import pytest

from tests.support.readback import FakeReader


@pytest.fixture
def fake_reader() -> FakeReader:
    return FakeReader()
