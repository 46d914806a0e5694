"""A CSR changes an EUMD's interval length from its device page (Req 25, 26)."""

import pytest

from binding.models import DeviceKind, DeviceMessage

pytestmark = pytest.mark.django_db


@pytest.fixture
def eumd(make_device):
    premise_eumd, _ = make_device(DeviceKind.EUMD)
    make_device(DeviceKind.ESCI, premise=premise_eumd.premise)
    return premise_eumd


def test_it_sends_the_new_interval_through_the_esci(client, carol_csr, eumd):
    client.force_login(carol_csr)

    response = client.post(f"/csr/devices/{eumd.lfdi}/interval/", {"interval_seconds": "300"})

    assert response.status_code == 302
    message = DeviceMessage.objects.get()
    assert (message.kind, message.recipient_id, message.payload["interval_seconds"]) == (
        DeviceMessage.Kind.INTERVAL_CHANGE,
        eumd.lfdi,
        300,
    )
    page = client.get(f"/csr/devices/{eumd.lfdi}/interval/")
    assert "Waiting for confirmation: 300 s" in page.content.decode()


def test_it_refuses_a_length_the_meter_cannot_keep(client, carol_csr, eumd):
    client.force_login(carol_csr)

    response = client.post(f"/csr/devices/{eumd.lfdi}/interval/", {"interval_seconds": "420"})

    assert response.status_code == 200
    assert not DeviceMessage.objects.exists()


def test_a_customer_cannot_change_an_interval(client, alice, eumd):
    client.force_login(alice)

    response = client.post(f"/csr/devices/{eumd.lfdi}/interval/", {"interval_seconds": "300"})

    assert response.status_code in (302, 403)
    assert not DeviceMessage.objects.exists()
