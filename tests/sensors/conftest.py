"""Fixtures for the sensor tests: the read-back fake shared with tests/triggers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "triggers"))

from readback_fake import FakeReader


@pytest.fixture
def fake_reader() -> FakeReader:
    return FakeReader()
