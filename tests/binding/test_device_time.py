"""GET /device/v1/time: a signed device reads the server's UTC clock to the second (NF.1)."""

import datetime as dt

import pytest
from django.urls import reverse

from binding.models import DeviceKind
from binding.signing import DeviceSigner

URL = "http://testserver/device/v1/time"


@pytest.fixture
def esci(make_device):
    return make_device()


def test_it_is_mounted_at_device_v1_time():
    assert reverse("device-time") == "/device/v1/time"


def test_it_tells_a_signed_esci_the_utc_time_to_the_second(client, esci):
    device, key = esci
    response = client.get("/device/v1/time", headers=DeviceSigner(device.lfdi, key).sign("GET", URL))

    assert response.status_code == 200
    server_time = dt.datetime.strptime(response.json()["server_time"] + "+0000", "%Y-%m-%dT%H:%M:%SZ%z")
    assert abs(server_time - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=5)


def test_it_answers_an_eumd_too(client, make_device):
    device, key = make_device(kind=DeviceKind.EUMD)
    response = client.get("/device/v1/time", headers=DeviceSigner(device.lfdi, key).sign("GET", URL))

    assert response.status_code == 200
    assert set(response.json()) == {"server_time"}


def test_it_refuses_an_unsigned_request_but_still_tells_the_time(client, db):
    response = client.get("/device/v1/time")

    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "authentication"
    assert body["reason"] == "unsigned"
    server_time = dt.datetime.strptime(body["server_time"] + "+0000", "%Y-%m-%dT%H:%M:%SZ%z")
    assert abs(server_time - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=5)
    assert response.headers["WWW-Authenticate"].startswith("Signature")


def test_it_is_in_the_openapi_schema_with_the_signature_requirement(client, db):
    schema = client.get("/api/schema/?format=json").json()

    operation = schema["paths"]["/device/v1/time"]["get"]
    assert operation["security"] == [{"deviceSignature": []}]
    assert {"200", "401", "429"} <= set(operation["responses"])
    assert schema["components"]["securitySchemes"]["deviceSignature"]["name"] == "Signature"
    assert "server_time" in schema["components"]["schemas"]["DeviceAuthenticationError"]["properties"]


def test_it_costs_one_read_and_one_write(client, esci, django_assert_num_queries):
    """The device by its LFDI, then the nonce: what every signed request pays before its view runs."""
    device, key = esci
    headers = DeviceSigner(device.lfdi, key).sign("GET", URL)

    with django_assert_num_queries(2):
        assert client.get("/device/v1/time", headers=headers).status_code == 200
