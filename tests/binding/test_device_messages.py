"""Utility → device messages the ESCI relays (binding/messages.py; Req 18, 25, 26)."""

import datetime as dt
from decimal import Decimal

import pytest

from billing.models import CriticalPeakDay, TariffVersion
from binding import jws, messages, parameters
from binding.models import DeviceKind, DeviceMessage, PevKey
from enrollment.models import Enrollment, ServicePlan
from tests.binding.test_handshake import NOW, Home

pytestmark = pytest.mark.django_db


@pytest.fixture
def plan(sce_programs):
    return ServicePlan.objects.select_related("tariff", "program").get(code="ev-standard")


@pytest.fixture
def home(make_device, plan):
    home = Home(make_device, plan=plan)
    home.commission()
    return home


def test_it_changes_an_eumd_interval_when_the_esci_acknowledges(home, carol_csr):
    [message] = messages.send_interval_change(home.eumd, 300, by=carol_csr)

    assert jws.verify(message.jws) == {**message.payload, "message_id": str(message.pk)}
    assert message.esci == home.esci
    home.eumd.refresh_from_db()
    assert home.eumd.interval_seconds is None, "nothing changes before the acknowledgement"

    acked_at = NOW + dt.timedelta(minutes=3)
    messages.acknowledge(message.pk, esci=home.esci, now=acked_at)
    messages.acknowledge(message.pk, esci=home.esci, now=acked_at + dt.timedelta(minutes=5))

    home.eumd.refresh_from_db()
    assert (home.eumd.interval_seconds, home.eumd.interval_since) == (300, acked_at)
    message.refresh_from_db()
    assert message.acked_at == acked_at, "a second acknowledgement changes nothing"


def test_it_redelivers_until_acknowledged(home, carol_csr):
    [message] = messages.send_interval_change(home.eumd, 1800, by=carol_csr)

    assert messages.pending_for(home.esci) == [message]
    assert messages.pending_for(home.esci) == [message]
    messages.acknowledge(message.pk, esci=home.esci, now=NOW)

    assert messages.pending_for(home.esci) == []
    message.refresh_from_db()
    assert message.deliveries == 2


def test_it_refuses_an_acknowledgement_from_another_esci(home, make_device, carol_csr):
    [message] = messages.send_interval_change(home.eumd, 1800, by=carol_csr)
    stranger, _ = make_device(DeviceKind.ESCI)

    with pytest.raises(messages.MessageNotFound):
        messages.acknowledge(message.pk, esci=stranger, now=NOW)


def test_it_refuses_an_interval_the_meters_cannot_keep(home, carol_csr):
    with pytest.raises(ValueError, match="5, 15, 30 or 60"):
        messages.send_interval_change(home.eumd, 420, by=carol_csr)
    assert not DeviceMessage.objects.exists()


def test_it_sends_new_parameters_after_a_plan_switch_once(home, plan):
    other = ServicePlan.objects.get(code="ev-prime")
    Enrollment.objects.filter(pk=home.enrollment.pk).update(plan=other)

    assert messages.announce_parameter_changes(NOW) == 1
    assert messages.announce_parameter_changes(NOW) == 0, "the PEV now holds them"

    message = DeviceMessage.objects.get(kind=DeviceMessage.Kind.PARAMETERS)
    payload = jws.verify(message.jws)
    assert (payload["pev_id"], payload["plan"]) == (home.pev.vin, "ev-prime")
    assert PevKey.objects.get().parameters_version == payload["parameters_version"]


def test_it_sends_new_parameters_when_a_tariff_version_changes(home, plan):
    TariffVersion.objects.filter(tariff=plan.tariff).update(content_sha256="a new rate sheet")
    parameters.forget_cached_versions()  # the minute each process may keep a version has passed

    assert messages.announce_parameter_changes(NOW) == 1


def test_it_announces_a_critical_peak_day_once(home, plan):
    version = TariffVersion.objects.filter(tariff=plan.tariff).order_by("-effective_start").first()
    TariffVersion.objects.filter(pk=version.pk).update(
        critical_peak_adder="0.80", critical_peak_start_hour=16, critical_peak_end_hour=21
    )
    day = CriticalPeakDay.objects.create(version=version, date=dt.date(2026, 11, 27))

    assert messages.announce_critical_peaks(NOW) == 1
    assert messages.announce_critical_peaks(NOW) == 0
    payload = jws.verify(DeviceMessage.objects.get(kind=DeviceMessage.Kind.EVENT).jws)
    assert payload["event"] == "critical_peak"
    assert (payload["date"], payload["start_hour"], Decimal(payload["price_adder"])) == (
        str(day.date),
        16,
        Decimal("0.80"),
    )
    assert DeviceMessage.objects.get(kind=DeviceMessage.Kind.EVENT).esci == home.esci


def test_a_replacement_esci_relays_what_the_old_one_had_not(home, carol_csr):
    from binding.ca import issue_key_and_certificate
    from binding.devices import swap_device

    [message] = messages.send_interval_change(home.eumd, 1800, by=carol_csr)
    _, certificate = issue_key_and_certificate("replacement-esci")

    replacement = swap_device(home.esci, certificate, carol_csr)

    assert messages.pending_for(replacement) == [message]
    assert messages.pending_for(home.esci) == []


def test_it_holds_new_parameters_until_an_esci_can_relay_them(home):
    from binding.models import Device

    Enrollment.objects.filter(pk=home.enrollment.pk).update(plan=ServicePlan.objects.get(code="ev-prime"))
    Device.objects.filter(pk=home.esci.pk).update(enabled=False)

    assert messages.announce_parameter_changes(NOW) == 0
    Device.objects.filter(pk=home.esci.pk).update(enabled=True)
    assert messages.announce_parameter_changes(NOW) == 1
