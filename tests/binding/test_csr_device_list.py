"""The CSR device list: filters, zero-padded SFDIs, pages, and a fixed number of queries."""

import pytest

from binding.devices import disable_device
from binding.models import Device
from tests.factories import PevFactory, PremiseFactory

URL = "/csr/devices/"


def lfdis(response) -> list[str]:
    return [device.lfdi for device in response.context["page"]]


@pytest.fixture
def fleet(make_device, carol_csr):
    home = PremiseFactory(premise_id="P-HOME")
    esci, _ = make_device("esci", premise=home)
    eumd, _ = make_device("eumd", premise=home)
    pev = PevFactory()
    in_car, _ = make_device("eumd", pev=pev)
    elsewhere, _ = make_device("esci")
    disable_device(elsewhere, "Stolen", carol_csr)
    return {"esci": esci, "eumd": eumd, "in_car": in_car, "elsewhere": elsewhere, "pev": pev}


def test_it_lists_every_device_newest_first_with_identity_and_place(client, carol_csr, fleet):
    client.force_login(carol_csr)

    response = client.get(URL)

    assert set(lfdis(response)) == {d.lfdi for d in Device.objects.all()}
    html = response.content.decode()
    for device in Device.objects.all():
        assert device.lfdi in html
        assert device.sfdi_display in html
    assert "P-HOME" in html
    assert fleet["pev"].vin in html
    assert "Disabled" in html


def test_it_shows_an_sfdi_with_leading_zeros_padded_to_12_digits(client, carol_csr, fleet):
    # An LFDI starting with zero nibbles has a short SFDI: 0x00000001a = 26, check digit 2.
    Device.objects.filter(pk=fleet["esci"].pk).update(lfdi="00000001a" + "f" * 31, sfdi=262)
    client.force_login(carol_csr)

    html = client.get(URL).content.decode()

    assert '<td class="device-id">000000000262</td>' in html


def test_it_filters_by_premise_kind_and_status(client, carol_csr, fleet):
    client.force_login(carol_csr)

    assert set(lfdis(client.get(URL, {"premise": "P-HOME"}))) == {fleet["esci"].lfdi, fleet["eumd"].lfdi}
    assert set(lfdis(client.get(URL, {"premise": "P-HOME", "kind": "eumd"}))) == {fleet["eumd"].lfdi}
    assert lfdis(client.get(URL, {"enabled": "no"})) == [fleet["elsewhere"].lfdi]
    assert fleet["elsewhere"].lfdi not in lfdis(client.get(URL, {"enabled": "yes"}))
    assert lfdis(client.get(URL, {"vin": fleet["pev"].vin.lower()})) == [fleet["in_car"].lfdi]


def test_it_finds_a_device_by_the_sfdi_on_its_label_or_the_start_of_its_lfdi(client, carol_csr, fleet):
    client.force_login(carol_csr)
    device = fleet["eumd"]

    assert lfdis(client.get(URL, {"device": device.sfdi_display})) == [device.lfdi]
    assert lfdis(client.get(URL, {"device": str(device.sfdi)})) == [device.lfdi]
    assert lfdis(client.get(URL, {"device": device.lfdi[:12].upper()})) == [device.lfdi]


def test_it_spots_an_sfdi_read_wrong_from_a_label(client, carol_csr, fleet):
    client.force_login(carol_csr)
    right = fleet["eumd"].sfdi_display
    wrong = right[:-1] + str((int(right[-1]) + 1) % 10)

    assert "ask the caller to read the label again" in client.get(URL, {"device": wrong}).content.decode()
    assert "read the label again" not in client.get(URL, {"device": "000000000190"}).content.decode()


def test_it_shows_nothing_for_a_filter_it_cannot_apply(client, carol_csr, fleet):
    client.force_login(carol_csr)

    response = client.get(URL, {"device": "not-hex!"})

    assert lfdis(response) == []
    assert "An LFDI is hexadecimal" in response.content.decode()


def test_it_pages_the_list(client, carol_csr, make_device):
    premise = PremiseFactory()
    for _ in range(52):
        make_device("eumd", premise=premise)
    client.force_login(carol_csr)

    first = client.get(URL)
    second = client.get(URL, {"page": 2})

    assert len(lfdis(first)) == 50
    assert len(lfdis(second)) == 2
    assert set(lfdis(first)).isdisjoint(lfdis(second))
    assert "Page 1 of 2" in first.content.decode()


def test_it_lists_in_a_fixed_number_of_queries(client, carol_csr, make_device, django_assert_max_num_queries):
    for _ in range(15):
        make_device("esci")
        make_device("eumd", pev=PevFactory())
    client.force_login(carol_csr)

    with django_assert_max_num_queries(8):
        response = client.get(URL)

    assert len(lfdis(response)) == 30
