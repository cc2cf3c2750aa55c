"""Fixtures for the sensor tests."""

from __future__ import annotations

import pytest

from tests.support.readback import FakeReader
from tests.triggers.read_errors import ErroringReader


@pytest.fixture
def fake_reader() -> FakeReader:
    return FakeReader()


@pytest.fixture
def erroring_reader() -> ErroringReader:
    return ErroringReader()
