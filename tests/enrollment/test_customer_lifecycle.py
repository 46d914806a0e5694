"""After enrolling, on the enrollment's page the customer sees status, plan, set-up window and history,
and changes preferences, switches plan (from the 1st of next month), re-opens the set-up window and
un-enrolls."""

import pytest
from django.utils import timezone

from billing.models import Tariff
from enrollment.enrolling import EnrollmentRequest, enroll
from enrollment.lifecycle import first_of_next_month
from enrollment.models import AccountLink, CommissioningWindow, Enrollment, ServicePlan
from tests.factories import PremiseFactory, north_american_vin

VIN = north_american_vin(424242)


@pytest.fixture
def enrollment(alice, sce_programs):
    home = PremiseFactory(default_tariff=Tariff.objects.get(code="SCE-TOU-D-4-9PM"))
    AccountLink.objects.create(user=alice, account=home.account, method="csr")
    request = EnrollmentRequest(
        account=home.account, premise=home, vin=VIN, plan=ServicePlan.objects.get(code="ev-prime")
    )
    return enroll(request, channel="web", actor=alice)


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def test_it_shows_status_plan_window_and_history(alice_client, enrollment):
    page = alice_client.get(f"/my/enrollments/{enrollment.pk}/").content.decode()

    assert "Awaiting commissioning" in page
    assert "EV Home Charging: EV Prime" in page
    assert VIN in page
    assert "Plug your vehicle in at home before <strong>" in page
    assert "Enrolled" in page
    assert "Website" in page
    assert "Un-enroll this vehicle" in page


def test_it_changes_preferences(alice_client, enrollment):
    guest = north_american_vin(7)
    assert 'value="declined" required id="id_guest_charging_0" checked' in (
        alice_client.get(f"/my/enrollments/{enrollment.pk}/preferences/").content.decode()
    )

    response = alice_client.post(
        f"/my/enrollments/{enrollment.pk}/preferences/",
        {"guest_charging": "guest", "guest_vins": f"{guest} ", "allow_roaming": "on"},
        follow=True,
    )

    enrollment.refresh_from_db()
    assert (enrollment.guest_charging, enrollment.guest_vins, enrollment.allow_roaming) == (
        "guest",
        [guest],
        True,
    )
    page = response.content.decode()
    assert "Your preferences are saved" in page
    assert "Guest and roaming preferences changed" in page


def test_it_refuses_bad_preferences(alice_client, enrollment):
    response = alice_client.post(
        f"/my/enrollments/{enrollment.pk}/preferences/", {"guest_charging": "host", "guest_vins": VIN}
    )

    assert "is the vehicle being enrolled, not a guest" in response.content.decode()
    enrollment.refresh_from_db()
    assert enrollment.guest_charging == "declined"


def test_it_switches_plan_from_the_first_of_next_month(alice_client, enrollment):
    starts = first_of_next_month(enrollment.plan, timezone.now())
    local = starts.astimezone(enrollment.plan.tariff.zone)
    starts_on = f"{local:%B} {local.day}, {local.year}"
    page = alice_client.get(f"/my/enrollments/{enrollment.pk}/plan/").content.decode()
    assert f"A new plan takes effect on {starts_on} at 00:00 local time (America/Los_Angeles)" in page

    response = alice_client.post(
        f"/my/enrollments/{enrollment.pk}/plan/", {"plan": "ev-standard"}, follow=True
    )

    scheduled = enrollment.plan_assignments.get(effective_from=starts)
    assert scheduled.plan.code == "ev-standard"
    page = response.content.decode()
    assert f"You are on EV Standard from {starts_on}." in page
    assert f"Changes to EV Standard on {starts_on}." in page
    assert "Plan switch scheduled" in page


def test_it_refuses_a_plan_not_offered_at_the_premise(alice_client, alice, sce_programs):
    home = PremiseFactory()  # EV Prime is only for premises on SCE-TOU-D-4-9PM
    AccountLink.objects.create(user=alice, account=home.account, method="csr")
    standard = ServicePlan.objects.get(code="ev-standard")
    enrollment = enroll(
        EnrollmentRequest(account=home.account, premise=home, vin=VIN, plan=standard),
        channel="web",
        actor=alice,
    )

    response = alice_client.post(f"/my/enrollments/{enrollment.pk}/plan/", {"plan": "ev-prime"})

    assert "This plan is not offered at this premise." in response.content.decode()
    assert enrollment.plan_assignments.count() == 1


def test_it_reopens_the_commissioning_window(alice_client, enrollment):
    first = enrollment.commissioning_windows.get()

    response = alice_client.post(
        f"/my/enrollments/{enrollment.pk}/commissioning/", {"reason": "new head unit"}, follow=True
    )

    latest = enrollment.commissioning_windows.first()
    assert latest != first
    assert latest.reason == "new head unit"
    first.refresh_from_db()
    assert first.closes_at <= latest.opens_at
    page = response.content.decode()
    assert "to set it up again" in page
    assert "Set-up window re-opened" in page


def test_it_refuses_an_unknown_reopen_reason(alice_client, enrollment):
    response = alice_client.post(f"/my/enrollments/{enrollment.pk}/commissioning/", {"reason": "bored"})

    assert "Select a valid choice" in response.content.decode()
    assert CommissioningWindow.objects.count() == 1


def test_it_unenrolls_only_after_confirmation(alice_client, enrollment):
    page = alice_client.post(f"/my/enrollments/{enrollment.pk}/unenroll/", {}).content.decode()
    assert "Tick the box to confirm that you want to un-enroll." in page
    assert Enrollment.objects.get().status == "pending_commissioning"

    response = alice_client.post(
        f"/my/enrollments/{enrollment.pk}/unenroll/", {"confirm": "on", "reason": "sold the car"}, follow=True
    )

    enrollment.refresh_from_db()
    assert (enrollment.status, enrollment.ended_reason) == ("ended", "sold the car")
    page = response.content.decode()
    assert "Your vehicle is no longer enrolled." in page
    assert "Enrollment ended" in page
    assert "Un-enroll this vehicle" not in page
    response = alice_client.get(f"/my/enrollments/{enrollment.pk}/plan/")
    assert response["Location"] == f"/my/enrollments/{enrollment.pk}/"
