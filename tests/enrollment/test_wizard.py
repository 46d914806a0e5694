"""The customer's enrollment wizard (scenario 1 steps 1–4): the whole way through, resuming a draft,
no skipped steps, and the confirmation page and email."""

import zoneinfo

import pytest
from django.core import mail

from billing.models import Tariff
from enrollment.models import AccountLink, Enrollment, EnrollmentDraft, TransferRequest
from tests.factories import EnrollmentFactory, PevFactory, PremiseFactory, north_american_vin

VIN = north_american_vin(424242)
LOS_ANGELES = zoneinfo.ZoneInfo("America/Los_Angeles")


@pytest.fixture
def home(sce_programs):
    """Alice's account 7001000001 with her house on the tariff that makes EV Prime eligible."""
    return PremiseFactory(
        account__number="7001000001",
        account__customer__phone="6265550101",
        postal_code="91105",
        service_address="12 Orange Grove Ave, Pasadena CA",
        default_tariff=Tariff.objects.get(code="SCE-TOU-D-4-9PM"),
    )


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def test_it_sends_a_visitor_to_sign_in_first(client, db):
    response = client.get("/my/enroll/account/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/my/enroll/account/"


def test_it_enrolls_through_every_step(alice_client, alice, home, django_capture_on_commit_callbacks):
    response = alice_client.get("/my/enroll/", follow=True)
    assert "Step 2 of 7" in response.content.decode()

    response = alice_client.post(
        "/my/enroll/account/",
        {"action": "link", "account_number": "7001000001", "postal_code": "91105", "phone_last4": "0101"},
    )
    assert response["Location"] == "/my/enroll/premise/"
    assert "Step 3 of 7" in alice_client.get("/my/enroll/premise/").content.decode()

    response = alice_client.post("/my/enroll/premise/", {"premise": home.pk})
    assert response["Location"] == "/my/enroll/vehicle/"

    response = alice_client.post("/my/enroll/vehicle/", {"vin": VIN.lower()[:8] + " - " + VIN[8:]})
    assert response["Location"] == "/my/enroll/plan/"

    page = alice_client.get("/my/enroll/plan/").content.decode()
    assert "Step 5 of 7" in page
    assert "2003 Honda" in page  # decoded from the VIN
    assert "EV Prime" in page
    assert "EV Standard" in page
    assert "Summer On-Peak" in page  # each plan's tariff card
    response = alice_client.post("/my/enroll/plan/", {"plan": "ev-prime"})
    assert response["Location"] == "/my/enroll/preferences/"

    guest = north_american_vin(7)
    response = alice_client.post(
        "/my/enroll/preferences/",
        {"guest_charging": "host", "guest_vins": f"{guest.lower()}\n", "allow_roaming": "on"},
    )
    assert response["Location"] == "/my/enroll/review/"
    page = alice_client.get("/my/enroll/review/").content.decode()
    assert "Step 7 of 7" in page
    assert guest in page

    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post("/my/enroll/review/")

    enrollment = Enrollment.objects.get()
    assert response["Location"] == f"/my/enrollments/{enrollment.pk}/enrolled/"
    assert (enrollment.pev.vin, enrollment.premise, enrollment.plan.code) == (VIN, home, "ev-prime")
    assert (enrollment.guest_charging, enrollment.guest_vins, enrollment.allow_roaming) == (
        "host",
        [guest],
        True,
    )
    assert enrollment.channel == "web"
    assert not EnrollmentDraft.objects.exists()
    [email] = mail.outbox
    assert "alice@example.com" in email.to
    closes = enrollment.commissioning_windows.get().closes_at.astimezone(LOS_ANGELES)
    closes_on = f"{closes:%A, %B} {closes.day}, {closes.year}"
    assert f"Plug your vehicle in at home before {closes_on}" in email.body

    page = alice_client.get(response["Location"]).content.decode()
    assert "Your vehicle is enrolled" in page
    assert f"Plug your vehicle in at home before <strong>{closes_on}, " in page
    assert closes.strftime("%Z") in page


def test_it_resumes_a_draft_at_the_same_step_with_its_answers(alice_client, alice, home):
    AccountLink.objects.create(user=alice, account=home.account, method="csr")
    alice_client.post("/my/enroll/account/", {"action": "choose", "account": home.account.pk})
    alice_client.post("/my/enroll/premise/", {"premise": home.pk})
    alice_client.post("/my/enroll/vehicle/", {"vin": VIN})
    alice_client.logout()

    alice_client.force_login(alice)
    response = alice_client.get("/my/enroll/")
    assert response["Location"] == "/my/enroll/plan/"
    assert VIN in alice_client.get("/my/enroll/plan/").content.decode()
    assert f'value="{VIN}"' in alice_client.get("/my/enroll/vehicle/").content.decode()
    assert "Continue where you left off" in alice_client.get("/my/").content.decode()


def test_it_does_not_let_a_step_be_skipped(alice_client, alice, home):
    AccountLink.objects.create(user=alice, account=home.account, method="csr")
    alice_client.post("/my/enroll/account/", {"action": "choose", "account": home.account.pk})

    for path, data in [
        ("/my/enroll/vehicle/", {"vin": VIN}),
        ("/my/enroll/plan/", {"plan": "ev-standard"}),
        ("/my/enroll/preferences/", {"guest_charging": "declined"}),
        ("/my/enroll/review/", {}),
    ]:
        assert alice_client.get(path)["Location"] == "/my/enroll/premise/"
        assert alice_client.post(path, data)["Location"] == "/my/enroll/premise/"

    assert EnrollmentDraft.objects.get().data == {"account_id": home.account.pk}
    assert not Enrollment.objects.exists()


def test_it_reopens_the_plan_step_when_a_new_premise_is_not_eligible_for_the_plan(alice_client, alice, home):
    other_rate = PremiseFactory(account=home.account)  # on a tariff EV Prime is not offered for
    AccountLink.objects.create(user=alice, account=home.account, method="csr")
    alice_client.post("/my/enroll/account/", {"action": "choose", "account": home.account.pk})
    alice_client.post("/my/enroll/premise/", {"premise": home.pk})
    alice_client.post("/my/enroll/vehicle/", {"vin": VIN})
    alice_client.post("/my/enroll/plan/", {"plan": "ev-prime"})
    alice_client.post("/my/enroll/preferences/", {"guest_charging": "declined"})

    response = alice_client.post("/my/enroll/premise/", {"premise": other_rate.pk})

    assert response["Location"] == "/my/enroll/plan/"
    assert alice_client.get("/my/enroll/review/")["Location"] == "/my/enroll/plan/"


def test_it_requests_a_transfer_for_a_vehicle_enrolled_elsewhere(alice_client, alice, home):
    EnrollmentFactory(pev=PevFactory(vin=VIN), status="active")
    AccountLink.objects.create(user=alice, account=home.account, method="csr")
    alice_client.post("/my/enroll/account/", {"action": "choose", "account": home.account.pk})
    alice_client.post("/my/enroll/premise/", {"premise": home.pk})

    response = alice_client.post("/my/enroll/vehicle/", {"vin": VIN})
    page = response.content.decode()
    assert "already enrolled" in page
    assert f"/my/enroll/vehicle/transfer/?vin={VIN}" in page

    assert (
        "Transfer a vehicle you bought"
        in alice_client.get(f"/my/enroll/vehicle/transfer/?vin={VIN}").content.decode()
    )
    assert alice_client.post("/my/enroll/vehicle/transfer/", {"vin": VIN})["Location"] == "/my/enroll/plan/"
    alice_client.post("/my/enroll/plan/", {"plan": "ev-standard"})
    alice_client.post("/my/enroll/preferences/", {"guest_charging": "declined"})
    assert "Send my transfer request" in alice_client.get("/my/enroll/review/").content.decode()

    response = alice_client.post("/my/enroll/review/")

    transfer = TransferRequest.objects.get()
    assert response["Location"] == f"/my/transfers/{transfer.pk}/"
    assert (transfer.vin, transfer.account, transfer.plan.code) == (VIN, home.account, "ev-standard")
    assert Enrollment.objects.count() == 1
    assert VIN in alice_client.get("/my/").content.decode()


def test_it_sends_a_vin_that_is_not_enrolled_back_from_the_transfer_page(alice_client, alice, home):
    AccountLink.objects.create(user=alice, account=home.account, method="csr")
    alice_client.post("/my/enroll/account/", {"action": "choose", "account": home.account.pk})
    alice_client.post("/my/enroll/premise/", {"premise": home.pk})

    assert (
        alice_client.post("/my/enroll/vehicle/transfer/", {"vin": VIN})["Location"] == "/my/enroll/vehicle/"
    )
    assert "vin" not in EnrollmentDraft.objects.get().data


def test_it_discards_a_draft(alice_client, alice, home):
    AccountLink.objects.create(user=alice, account=home.account, method="csr")
    alice_client.post("/my/enroll/account/", {"action": "choose", "account": home.account.pk})

    response = alice_client.post("/my/enroll/discard/")

    assert response["Location"] == "/my/"
    assert not EnrollmentDraft.objects.exists()
    assert alice_client.get("/my/enroll/")["Location"] == "/my/enroll/account/"
