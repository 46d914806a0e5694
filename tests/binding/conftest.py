"""Binding fixtures: a device CA in a temporary directory and a factory for registered devices with keys."""

import itertools

import pytest

from binding.ca import issue_key_and_certificate
from binding.devices import register_device
from binding.models import DeviceKind
from tests.factories import PremiseFactory


@pytest.fixture
def device_ca(settings, tmp_path):
    """A fresh device CA for the test, never the development CA under var/."""
    settings.DEVICE_CA_DIR = tmp_path / "device-ca"
    return settings.DEVICE_CA_DIR


@pytest.fixture
def make_device(db, device_ca):
    """make_device(kind="esci", premise=None, pev=None) -> (Device, private_key): a key and certificate from
    the test CA, registered. An ESCI without a premise gets a new one; so does an EUMD given neither."""
    serials = itertools.count(1)

    def make(kind=DeviceKind.ESCI, premise=None, pev=None):
        if premise is None and pev is None:
            premise = PremiseFactory()
        key, certificate = issue_key_and_certificate(f"test-{kind}-{next(serials)}")
        return register_device(kind, certificate, premise=premise, pev=pev), key

    return make
