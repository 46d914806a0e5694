"""A CSR changes an enrollment for a caller — preferences, plan, commissioning window, un-enroll, move-out —
and issues a one-time enrollment code; each through the lifecycle and linking functions, audited as phone."""

import pytest
from django.utils import timezone

from billing.models import Tariff
from enrollment import linking
from enrollment.enrolling import EnrollmentRequest, enroll
from enrollment.models import AccountLink, Enrollment, EnrollmentCode, ServicePlan
from pevportal.models import AuditRecord
from tests.factories import PremiseFactory, north_american_vin

VIN = north_american_vin(77)
GUEST = north_american_vin(78)


@pytest.fixture
def enrollment(sce_programs):
    home = PremiseFactory(
        premise_id="P1000001",
        account__number="7001000001",
        account__customer__name="Alice Nguyen",
        default_tariff=Tariff.objects.get(code="SCE-TOU-D-4-9PM"),
    )
    return enroll(
        EnrollmentRequest(
            account=home.account, premise=home, vin=VIN, plan=ServicePlan.objects.get(code="ev-standard")
        ),
        channel="web",
    )


@pytest.fixture
def carol(client, carol_csr):
    client.force_login(carol_csr)
    return carol_csr


def last_audit(action):
    return AuditRecord.objects.filter(action=action).latest("pk")


def test_it_changes_preferences(client, carol, enrollment):
    url = f"/csr/enrollments/{enrollment.pk}/preferences/"
    assert client.get(url).context["form"].initial["guest_charging"] == "declined"

    response = client.post(
        url, {"guest_charging": "host", "guest_vins": f"{GUEST.lower()}\n", "allow_roaming": "on"}
    )

    assert response.status_code == 302
    enrollment.refresh_from_db()
    assert (enrollment.guest_charging, enrollment.guest_vins, enrollment.allow_roaming) == (
        "host",
        [GUEST],
        True,
    )
    audit = last_audit("enrollment.preferences_changed")
    assert (audit.actor, audit.channel) == (carol, "phone")


def test_it_shows_a_bad_guest_vin_next_to_the_field(client, carol, enrollment):
    response = client.post(
        f"/csr/enrollments/{enrollment.pk}/preferences/", {"guest_charging": "host", "guest_vins": VIN}
    )

    assert "is the vehicle being enrolled" in " ".join(response.context["form"].errors["guest_vins"])
    assert 'id="id_guest_vins_error"' in response.content.decode()


def test_it_schedules_a_plan_switch_for_the_first_of_next_month(client, carol, enrollment):
    url = f"/csr/enrollments/{enrollment.pk}/plan/"
    assert [code for code, _ in client.get(url).context["form"].fields["plan"].choices] == [
        "ev-prime",
        "ev-standard",
    ]

    response = client.post(url, {"plan": "ev-prime"}, follow=True)

    scheduled = enrollment.plan_assignments.get(plan__code="ev-prime")
    assert scheduled.effective_from > timezone.now()
    assert scheduled.effective_from.day in (1, 2)  # 00:00 Pacific on the 1st is 07:00 or 08:00 UTC
    assert "switches to EV Prime from" in response.content.decode()
    assert last_audit("enrollment.plan_switch_scheduled").actor == carol


def test_it_requires_a_reason_to_reopen_commissioning(client, carol, enrollment):
    url = f"/csr/enrollments/{enrollment.pk}/commissioning/"

    refused = client.post(url, {"reason": ""})
    assert "reason" in refused.context["form"].errors
    assert enrollment.commissioning_windows.count() == 1

    response = client.post(url, {"reason": "new head unit"})

    assert response.status_code == 302
    newest = enrollment.commissioning_windows.first()
    assert newest.reason == "new head unit"
    assert enrollment.commissioning_windows.count() == 2
    assert last_audit("enrollment.commissioning_reopened").actor == carol


def test_it_unenrolls_only_with_a_reason_and_confirmation(client, carol, enrollment):
    url = f"/csr/enrollments/{enrollment.pk}/unenroll/"

    refused = client.post(url, {"reason": "sold the car"})
    assert "confirm" in refused.context["form"].errors
    refused = client.post(url, {"confirm": "on"})
    assert "reason" in refused.context["form"].errors
    enrollment.refresh_from_db()
    assert enrollment.is_current

    assert client.post(url, {"reason": "sold the car", "confirm": "on"}).status_code == 302

    enrollment.refresh_from_db()
    assert enrollment.status == Enrollment.Status.ENDED
    assert enrollment.ended_reason == "sold the car"
    assert last_audit("enrollment.ended").actor == carol


def test_it_says_an_ended_enrollment_cannot_change(client, carol, enrollment):
    client.post(f"/csr/enrollments/{enrollment.pk}/unenroll/", {"reason": "sold", "confirm": "on"})

    response = client.post(f"/csr/enrollments/{enrollment.pk}/commissioning/", {"reason": "lost key"})

    assert response.status_code == 200
    assert "This enrollment has ended." in response.content.decode()


def test_it_ends_every_enrollment_at_a_premise_on_move_out(client, carol, enrollment):
    url = "/csr/premises/P1000001/move-out/"
    assert VIN in client.get(url).content.decode()

    refused = client.post(url, {})
    assert "confirm" in refused.context["form"].errors
    response = client.post(url, {"confirm": "on"}, follow=True)

    assert "1 enrollment ended" in response.content.decode()
    enrollment.refresh_from_db()
    assert enrollment.status == Enrollment.Status.ENDED
    assert enrollment.ended_reason == "moved out"
    assert enrollment.commissioning_window(timezone.now()) is None
    assert last_audit("enrollment.ended").channel == "phone"


def test_it_issues_a_code_shown_once_that_links_alice_once(client, carol, enrollment, alice, bob):
    url = "/csr/accounts/7001000001/code/"

    response = client.post(url)

    assert "no-store" in response["Cache-Control"]
    code = response.context["code"]
    assert code in response.content.decode()
    assert response.context["expires_at"] == EnrollmentCode.objects.get().expires_at
    link = linking.redeem_code(alice, code)
    assert (link.user, link.account, link.method) == (alice, enrollment.account, AccountLink.Method.CODE)
    with pytest.raises(linking.LinkRefused):
        linking.redeem_code(bob, code)
    assert code not in client.get(url).content.decode()
