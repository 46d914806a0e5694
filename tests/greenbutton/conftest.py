"""Green Button fixtures: Alice's billed home (SCE TOU-D-4-9PM, a PEV on EV Prime) and the ESPI schema."""

from pathlib import Path

import pytest
from lxml import etree

from enrollment.models import AccountLink
from tests.billing.billing_homes import BilledHome
from tests.binding.conftest import device_ca, make_device  # noqa: F401 — homes need devices and meters

ATOM = "{http://www.w3.org/2005/Atom}"
ESPI = "{http://naesb.org/espi}"
# An excerpt of NAESB's espi.xsd 4.0 (Apache-2.0; the header says what was left out and why).
SCHEMA = etree.XMLSchema(etree.parse(str(Path(__file__).with_name("espi-excerpt.xsd"))))


@pytest.fixture
def home(sce_programs, make_device, alice):  # noqa: F811 — the fixture imported above
    home = BilledHome(make_device)
    AccountLink.objects.create(user=alice, account=home.premise.account, method=AccountLink.Method.CSR)
    return home


def parse(chunks) -> etree._Element:
    return etree.fromstring(b"".join(chunks))


def entries(feed: etree._Element, resource: str) -> list[etree._Element]:
    """The ESPI resources of one kind, in document order."""
    return feed.findall(f"{ATOM}entry/{ATOM}content/{ESPI}{resource}")
