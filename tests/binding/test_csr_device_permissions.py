"""Every device and binding screen requires the CSR role: visitors sign in, customers are refused."""

import datetime as dt

import pytest

from binding.models import Binding


@pytest.fixture
def urls(make_device):
    device, _ = make_device()
    binding = Binding.objects.create(
        esci=device,
        eumd_lfdi="0" * 40,
        vin="1HGCM82633A004352",
        premise=device.premise,
        state=Binding.State.UNBOUND,
        reason=Binding.Reason.UNKNOWN_VIN,
        plugged_in_at=dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.UTC),
        deadline=dt.datetime(2026, 3, 1, 2, 1, tzinfo=dt.UTC),
        response={},
    )
    return [
        "/csr/devices/",
        f"/csr/devices/?premise={device.premise.premise_id}",
        f"/csr/devices/{device.lfdi}/",
        f"/csr/devices/{device.lfdi}/disable/",
        f"/csr/devices/{device.lfdi}/swap/",
        "/csr/bindings/",
        f"/csr/bindings/?vin={binding.vin}",
        f"/csr/bindings/{binding.pk}/",
    ]


def test_it_sends_anonymous_visitors_to_sign_in(client, urls):
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/"), url


def test_it_forbids_customers_every_screen_and_action(client, alice, urls):
    client.force_login(alice)

    for url in urls:
        assert client.get(url).status_code == 403, url
        assert client.post(url.split("?")[0], {"reason": "stolen"}).status_code == 403, url


def test_it_leaves_a_device_alone_when_a_customer_tries_to_disable_it(client, alice, make_device):
    device, _ = make_device()
    client.force_login(alice)

    client.post(f"/csr/devices/{device.lfdi}/disable/", {"reason": "stolen"})

    device.refresh_from_db()
    assert device.enabled


def test_it_shows_every_screen_to_a_csr(client, carol_csr, urls):
    client.force_login(carol_csr)

    for url in urls:
        assert client.get(url).status_code == 200, url


def test_it_links_the_device_list_from_the_csr_navigation(client, carol_csr, alice, db):
    client.force_login(carol_csr)
    assert 'href="/csr/devices/"' in client.get("/csr/").content.decode()
    client.force_login(alice)
    assert 'href="/csr/devices/"' not in client.get("/").content.decode()
