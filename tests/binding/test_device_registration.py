"""Registering, disabling and swapping devices (Req 8, 9, 22; BR.2, BR.7): audited, history kept."""

import datetime as dt

import pytest
from cryptography import x509
from django.core.exceptions import ValidationError

from binding.ca import issue_key_and_certificate
from binding.devices import disable_device, register_device, swap_device
from binding.identity import certificate_lfdi, sfdi
from binding.models import Binding, Device
from pevportal.models import AuditRecord
from tests.binding.certificates import self_signed
from tests.factories import PevFactory, PremiseFactory

pytestmark = pytest.mark.django_db


def test_it_registers_an_esci_at_a_premise_by_its_certificate(device_ca, carol_csr):
    premise = PremiseFactory()
    _, certificate = issue_key_and_certificate("esci-1")
    device = register_device("esci", certificate, premise=premise, by=carol_csr)
    device.refresh_from_db()
    assert device.lfdi == certificate_lfdi(certificate)
    assert device.sfdi == sfdi(device.lfdi)
    assert device.not_after == certificate.not_valid_after_utc
    assert device.premise == premise
    assert device.enabled
    audit = AuditRecord.objects.get(action="device.registered", target_id=str(device.pk))
    assert audit.actor == carol_csr
    assert audit.after["lfdi"] == device.lfdi
    assert audit.context["issuer"] == "device-ca"


def test_it_registers_an_eumd_inside_a_pev(device_ca):
    pev = PevFactory()
    _, certificate = issue_key_and_certificate("eumd-1")
    device = register_device("eumd", certificate, pev=pev)
    assert device.pev == pev
    assert device.premise is None


def test_it_registers_a_manufacturers_certificate_noting_its_issuer(device_ca):
    _, certificate = self_signed(common_name="Acme meter 7")
    device = register_device("eumd", certificate, premise=PremiseFactory())
    audit = AuditRecord.objects.get(action="device.registered", target_id=str(device.pk))
    assert audit.context["issuer"] == "CN=Acme meter 7"


def test_it_refuses_an_esci_without_a_premise(device_ca):
    _, certificate = issue_key_and_certificate("esci-1")
    with pytest.raises(ValidationError, match="An ESCI belongs to a premise"):
        register_device("esci", certificate, pev=PevFactory())
    assert not Device.objects.exists()


@pytest.mark.parametrize("both", [True, False])
def test_it_needs_exactly_one_place_for_an_eumd(device_ca, both):
    _, certificate = issue_key_and_certificate("eumd-1")
    place = {"premise": PremiseFactory(), "pev": PevFactory()} if both else {}
    with pytest.raises(ValidationError, match="exactly one premise or one PEV"):
        register_device("eumd", certificate, **place)
    assert not Device.objects.exists()


def test_it_refuses_an_unknown_kind(device_ca):
    _, certificate = issue_key_and_certificate("pev-1")
    with pytest.raises(ValidationError, match="Unknown device kind 'pev'"):
        register_device("pev", certificate, premise=PremiseFactory())


def test_it_refuses_a_certificate_registered_already(make_device):
    device, _ = make_device()
    certificate = x509.load_pem_x509_certificate(device.certificate_pem.encode())
    with pytest.raises(
        ValidationError, match=f"already registered: ESCI .* {device.lfdi} at {device.premise.premise_id}"
    ):
        register_device("esci", certificate, premise=PremiseFactory())
    assert Device.objects.count() == 1


def test_it_refuses_an_expired_certificate(device_ca):

    now = dt.datetime.now(dt.UTC)
    _, certificate = self_signed(not_before=now - dt.timedelta(days=9), not_after=now - dt.timedelta(days=1))
    with pytest.raises(ValidationError, match="expired on"):
        register_device("esci", certificate, premise=PremiseFactory())
    assert not Device.objects.exists()


def test_it_disables_a_device_with_a_reason(make_device, carol_csr):
    device, _ = make_device()
    disable_device(device, "  Reported stolen  ", carol_csr)
    device.refresh_from_db()
    assert not device.enabled
    assert device.disabled_at is not None
    assert device.disabled_reason == "Reported stolen"
    audit = AuditRecord.objects.get(action="device.disabled", target_id=str(device.pk))
    assert (audit.before["enabled"], audit.after["enabled"]) == (True, False)
    assert audit.actor == carol_csr


def test_it_needs_a_reason_to_disable(make_device, carol_csr):
    device, _ = make_device()
    with pytest.raises(ValidationError, match="Say why"):
        disable_device(device, " ", carol_csr)
    device.refresh_from_db()
    assert device.enabled


def test_it_says_when_a_device_is_already_disabled(make_device, carol_csr):
    device, _ = make_device()
    disable_device(device, "Stolen", carol_csr)
    with pytest.raises(ValidationError, match=r"already disabled \(Stolen\)"):
        disable_device(device, "Again", carol_csr)
    assert AuditRecord.objects.filter(action="device.disabled").count() == 1


def test_it_swaps_a_failed_eumd_keeping_the_history_on_the_old_row(make_device, carol_csr):
    premise = PremiseFactory()
    esci, _ = make_device("esci", premise=premise)
    old, _ = make_device("eumd", premise=premise)
    binding = Binding.objects.create(
        esci=esci,
        eumd=old,
        eumd_lfdi=old.lfdi,
        vin="1HGCM82633A004352",
        premise=premise,
        state=Binding.State.ENDED,
        plugged_in_at="2026-03-01T02:00:00Z",
        deadline="2026-03-01T02:01:00Z",
        response={},
    )
    _, certificate = issue_key_and_certificate("eumd-replacement")
    new = swap_device(old, certificate, carol_csr)
    old.refresh_from_db()
    assert (new.kind, new.premise, new.pev, new.enabled) == ("eumd", premise, None, True)
    assert old.replaced_by == new
    assert not old.enabled
    assert old.disabled_reason == f"Replaced by {new.lfdi}"
    assert list(old.metered_bindings.all()) == [binding]
    assert not new.metered_bindings.exists()
    swapped = AuditRecord.objects.get(action="device.swapped", target_id=str(old.pk))
    assert swapped.context == {"replacement": new.lfdi}
    assert AuditRecord.objects.filter(action="device.registered", target_id=str(new.pk)).exists()


def test_it_swaps_a_device_a_csr_disabled_earlier_keeping_that_reason(make_device, carol_csr):
    pev = PevFactory()
    old, _ = make_device("eumd", pev=pev)
    disable_device(old, "No readings since March", carol_csr)
    new = swap_device(old, issue_key_and_certificate("eumd-2")[1], carol_csr)
    old.refresh_from_db()
    assert new.pev == pev
    assert old.disabled_reason == "No readings since March"
    assert old.replaced_by == new


def test_it_refuses_to_swap_a_device_twice(make_device, carol_csr):
    old, _ = make_device()
    first = swap_device(old, issue_key_and_certificate("esci-2")[1], carol_csr)
    with pytest.raises(ValidationError, match=f"already replaced by {first.lfdi}"):
        swap_device(old, issue_key_and_certificate("esci-3")[1], carol_csr)
    assert Device.objects.count() == 2


def test_it_leaves_the_old_device_alone_when_the_replacement_is_refused(make_device, carol_csr):
    old, _ = make_device()
    other, _ = make_device()
    duplicate = x509.load_pem_x509_certificate(other.certificate_pem.encode())
    with pytest.raises(ValidationError, match="already registered"):
        swap_device(old, duplicate, carol_csr)
    old.refresh_from_db()
    assert old.enabled
    assert old.replaced_by is None
