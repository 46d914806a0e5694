"""An enrollment's history for the CSR: its audit records and its account's code issues and login links,
newest first, with who, when (Pacific time), channel and before → after."""

import datetime as dt

import pytest

from billing.models import Tariff
from enrollment import lifecycle, linking
from enrollment.enrolling import EnrollmentRequest, enroll
from enrollment.models import ServicePlan
from pevportal.models import AuditRecord
from tests.factories import PremiseFactory, north_american_vin


@pytest.fixture
def enrollment(sce_programs, alice, carol_csr):
    home = PremiseFactory(
        premise_id="P1000001",
        account__number="7001000001",
        default_tariff=Tariff.objects.get(code="SCE-TOU-D-4-9PM"),
    )
    enrollment = enroll(
        EnrollmentRequest(
            account=home.account,
            premise=home,
            vin=north_american_vin(9),
            plan=ServicePlan.objects.get(code="ev-standard"),
        ),
        channel="phone",
        actor=carol_csr,
    )
    code = linking.issue_code(home.account, csr=carol_csr)
    linking.redeem_code(alice, code)
    lifecycle.change_preferences(
        enrollment, guest_charging="host", guest_vins=[], allow_roaming=True, actor=alice, channel="web"
    )
    # A change to another enrollment must not show up.
    other = PremiseFactory(default_tariff=home.default_tariff)
    enroll(
        EnrollmentRequest(
            account=other.account, premise=other, vin=north_american_vin(10), plan=enrollment.plan
        ),
        channel="web",
    )
    return enrollment


def test_it_shows_the_audit_trail_newest_first(client, carol_csr, enrollment):
    AuditRecord.objects.filter(action="enrollment.created", target_id=str(enrollment.pk)).update(
        at=dt.datetime(2026, 7, 1, 19, 30, tzinfo=dt.UTC)
    )
    client.force_login(carol_csr)

    response = client.get(f"/csr/enrollments/{enrollment.pk}/history/")

    entries = response.context["entries"]
    assert [e.record.action for e in entries] == [
        "enrollment.preferences_changed",
        "account.linked",
        "enrollment_code.issued",
        "enrollment.created",
    ]
    assert [e.who for e in entries] == ["alice", "alice", "carol", "carol"]
    assert ("guest_charging", "declined", "host") in entries[0].changes
    assert ("allow_roaming", "no", "yes") in entries[0].changes
    created = {name: after for name, _, after in entries[-1].changes}
    assert created["pev"] == north_american_vin(9)
    assert (created["premise"], created["plan"], created["channel"]) == ("P1000001", "ev-standard", "phone")
    html = response.content.decode()
    assert "2026-07-01 12:30:00 PDT" in html
    assert "Phone (CSR)" in html
    assert "Preferences changed" in html
    assert "declined → host" in html
