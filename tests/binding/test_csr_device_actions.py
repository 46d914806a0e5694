"""CSR device actions: disable with a reason, swap a failed device for a new one by its certificate."""

from cryptography.hazmat.primitives.serialization import Encoding
from django.core.files.uploadedfile import SimpleUploadedFile

from binding.ca import issue_key_and_certificate
from binding.identity import certificate_lfdi
from binding.models import Device
from pevportal.models import AuditRecord
from tests.binding.certificates import rsa_key, self_signed


def pem(certificate) -> str:
    return certificate.public_bytes(Encoding.PEM).decode()


def test_it_disables_a_device_and_says_so(client, carol_csr, make_device):
    device, _ = make_device()
    client.force_login(carol_csr)

    response = client.post(f"/csr/devices/{device.lfdi}/disable/", {"reason": "Reported stolen"}, follow=True)

    device.refresh_from_db()
    assert not device.enabled
    assert device.disabled_reason == "Reported stolen"
    assert "its next request will be refused" in response.content.decode()
    audit = AuditRecord.objects.get(action="device.disabled")
    assert (audit.actor, audit.channel) == (carol_csr, "phone")


def test_it_needs_a_reason_to_disable(client, carol_csr, make_device):
    device, _ = make_device()
    client.force_login(carol_csr)

    response = client.post(f"/csr/devices/{device.lfdi}/disable/", {"reason": ""})

    assert response.status_code == 200
    assert response.context["form"].errors["reason"]
    device.refresh_from_db()
    assert device.enabled


def test_it_explains_that_a_device_is_already_disabled(client, carol_csr, make_device):
    device, _ = make_device()
    client.force_login(carol_csr)
    client.post(f"/csr/devices/{device.lfdi}/disable/", {"reason": "Stolen"})

    response = client.post(f"/csr/devices/{device.lfdi}/disable/", {"reason": "Again"})

    assert "is already disabled (Stolen)" in response.content.decode()
    assert AuditRecord.objects.filter(action="device.disabled").count() == 1


def test_it_swaps_a_device_for_an_uploaded_certificate(client, carol_csr, make_device):
    old, _ = make_device("eumd")
    _, certificate = issue_key_and_certificate("eumd-new")
    client.force_login(carol_csr)

    response = client.post(
        f"/csr/devices/{old.lfdi}/swap/",
        {"certificate_file": SimpleUploadedFile("new.pem", pem(certificate).encode()), "reason": "Dead"},
        follow=True,
    )

    new = Device.objects.get(lfdi=certificate_lfdi(certificate))
    old.refresh_from_db()
    assert response.redirect_chain[-1][0] == f"/csr/devices/{new.lfdi}/"
    assert (new.kind, new.premise, new.enabled) == ("eumd", old.premise, True)
    assert old.replaced_by == new
    assert (old.enabled, old.disabled_reason) == (False, "Dead")
    html = response.content.decode()
    assert f"replaced by {new.lfdi} (SFDI {new.sfdi_display})" in html
    assert old.lfdi in html  # the new device's page links back to the one it replaces
    old_page = client.get(f"/csr/devices/{old.lfdi}/").content.decode()
    assert f'Replaced by a new device <span class="device-id">{new.lfdi}</span>' in old_page


def test_it_swaps_a_device_for_a_pasted_certificate(client, carol_csr, make_device):
    old, _ = make_device()
    _, certificate = self_signed(common_name="Acme gateway")
    client.force_login(carol_csr)

    client.post(f"/csr/devices/{old.lfdi}/swap/", {"certificate_pem": pem(certificate)})

    old.refresh_from_db()
    assert old.replaced_by.lfdi == certificate_lfdi(certificate)


def test_it_refuses_a_certificate_with_the_wrong_key(client, carol_csr, make_device):
    old, _ = make_device()
    client.force_login(carol_csr)

    response = client.post(
        f"/csr/devices/{old.lfdi}/swap/", {"certificate_pem": pem(self_signed(rsa_key())[1])}
    )

    assert "must be EC P-256, not RSA" in str(response.context["form"].errors["certificate_pem"])
    assert Device.objects.count() == 1


def test_it_needs_exactly_one_certificate(client, carol_csr, make_device):
    old, _ = make_device()
    certificate = pem(issue_key_and_certificate("x")[1])
    client.force_login(carol_csr)

    for data in ({}, {"certificate_pem": certificate, "certificate_file": SimpleUploadedFile("c.pem", b"x")}):
        response = client.post(f"/csr/devices/{old.lfdi}/swap/", data)
        assert "one of the two" in response.content.decode()
    assert Device.objects.count() == 1


def test_it_refuses_a_certificate_already_registered(client, carol_csr, make_device):
    old, _ = make_device()
    other, _ = make_device()
    client.force_login(carol_csr)

    response = client.post(f"/csr/devices/{old.lfdi}/swap/", {"certificate_pem": other.certificate_pem})

    assert "This certificate is already registered" in response.content.decode()
    old.refresh_from_db()
    assert old.enabled


def test_it_offers_no_actions_on_a_replaced_device(client, carol_csr, make_device):
    old, _ = make_device()
    client.force_login(carol_csr)
    client.post(f"/csr/devices/{old.lfdi}/swap/", {"certificate_pem": pem(issue_key_and_certificate("n")[1])})

    html = client.get(f"/csr/devices/{old.lfdi}/").content.decode()

    assert f"/csr/devices/{old.lfdi}/swap/" not in html
    assert "Replaced by" in html


def test_it_finds_a_device_by_an_uppercase_lfdi_and_404s_on_nonsense(client, carol_csr, make_device):
    device, _ = make_device()
    client.force_login(carol_csr)

    assert client.get(f"/csr/devices/{device.lfdi.upper()}/").status_code == 200
    assert client.get("/csr/devices/not-an-lfdi/").status_code == 404
    assert client.get(f"/csr/devices/{'0' * 40}/").status_code == 404
