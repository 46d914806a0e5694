"""Usage fixtures: the binding suite's device CA and registered devices, the real SCE tariffs and plans
(`sce_programs`), and forgetting the read partitions and rollup calendars of earlier tests."""

import pytest

from metering.partitions import forget_known_partitions
from metering.rollups import forget_cached_calendars
from tests.binding.conftest import device_ca, make_device  # noqa: F401 — homes need devices and meters


@pytest.fixture(autouse=True)
def _forget_partitions_and_calendars():
    forget_known_partitions()
    forget_cached_calendars()
    yield
    forget_known_partitions()
    forget_cached_calendars()
