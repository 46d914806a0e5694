"""Fixtures for the simulator's status reports over real HTTP: the binding tests' device CA and registered
devices, a utility key of the test's own, and a demo-premise-like home for Alice with her PEV enrolled."""

import pytest

from billing.models import Tariff
from binding.simulator import Server, SimulatedDevice, SimulatedPev, Site
from enrollment.enrolling import EnrollmentRequest, enroll
from enrollment.models import ServicePlan
from metering.partitions import forget_known_partitions
from tests.binding.conftest import device_ca, make_device  # noqa: F401 — fixtures used here
from tests.factories import PremiseFactory, north_american_vin

ALICE_VIN = north_american_vin(7001)


@pytest.fixture(autouse=True)
def _forget_partitions():
    """Each test database starts without read partitions (PostgreSQL): forget the ones made before."""
    forget_known_partitions()
    yield
    forget_known_partitions()


@pytest.fixture(autouse=True)
def _utility_key(settings, tmp_path):
    """The utility's JWS key for this test, never the development key under var/."""
    settings.UTILITY_SIGNING_KEY = tmp_path / "utility-signing-key.pem"


@pytest.fixture
def alice_site(sce_programs, make_device, live_server) -> Site:  # noqa: F811 — the fixture
    """Alice's premise with her PEV enrolled (commissioning window open), its ESCI and EUMD, seen by the
    simulator against the live server."""
    premise = PremiseFactory(
        account__customer__name="Alice", default_tariff=Tariff.objects.get(code="SCE-TOU-D-4-9PM")
    )
    plan = ServicePlan.objects.get(code="ev-prime")
    request = EnrollmentRequest(account=premise.account, premise=premise, vin=ALICE_VIN, plan=plan)
    enroll(request, channel="web")
    esci, esci_key = make_device("esci", premise=premise)
    eumd, eumd_key = make_device("eumd", premise=premise)
    return Site(
        Server(live_server.url),
        premise.premise_id,
        SimulatedDevice(esci.lfdi, esci_key),
        SimulatedDevice(eumd.lfdi, eumd_key),
    )


@pytest.fixture
def alice_pev(tmp_path) -> SimulatedPev:
    return SimulatedPev(ALICE_VIN, state_dir=tmp_path / "pev-state")
