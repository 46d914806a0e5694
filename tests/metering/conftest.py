"""Metering fixtures: the binding suite's device CA and registered devices, and forgetting which read
partitions this process has created (each test database starts without them)."""

import pytest

from metering.partitions import forget_known_partitions
from tests.binding.conftest import device_ca, make_device  # noqa: F401 — fixtures shared with binding tests


@pytest.fixture(autouse=True)
def _forget_partitions():
    forget_known_partitions()
    yield
    forget_known_partitions()
