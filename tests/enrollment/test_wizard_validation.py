"""Every wizard step refuses bad input on the server with a message the customer can act on, and keeps
the draft where it was."""

import pytest

from billing.models import Tariff
from enrollment.linking import issue_code
from enrollment.models import AccountLink, Enrollment, EnrollmentDraft
from tests.factories import EnrollmentFactory, PevFactory, PremiseFactory, north_american_vin

VIN = north_american_vin(424242)
REFUSED = "We could not verify those details."


@pytest.fixture
def home(sce_programs):
    return PremiseFactory(
        account__number="7001000001",
        account__customer__phone="6265550101",
        postal_code="91105",
        default_tariff=Tariff.objects.get(code="SCE-TOU-D-4-9PM"),
    )


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def at_vehicle_step(alice_client, alice, home):
    AccountLink.objects.create(user=alice, account=home.account, method="csr")
    alice_client.post("/my/enroll/account/", {"action": "choose", "account": home.account.pk})
    alice_client.post("/my/enroll/premise/", {"premise": home.pk})
    return alice_client


def link(client, **overrides):
    details = {"account_number": "7001000001", "postal_code": "91105", "phone_last4": "0101", **overrides}
    return client.post("/my/enroll/account/", {"action": "link", **details})


@pytest.mark.parametrize(
    "overrides", [{"account_number": "7001000002"}, {"postal_code": "90210"}, {"phone_last4": "9999"}]
)
def test_it_refuses_wrong_account_details_without_saying_which(alice_client, alice, home, overrides):
    response = link(alice_client, **overrides)

    assert response.status_code == 200
    page = response.content.decode()
    assert REFUSED in page
    assert 'role="alert"' in page
    assert not AccountLink.objects.filter(user=alice).exists()
    assert "Step 2 of 7" in page


def test_it_says_to_wait_after_five_failed_attempts(alice_client, alice, home):
    for _ in range(5):
        assert REFUSED in link(alice_client, phone_last4="9999").content.decode()

    page = link(alice_client).content.decode()

    assert "Too many attempts. Please wait 15 minutes" in page
    assert not AccountLink.objects.filter(user=alice).exists()


def test_it_links_with_a_one_time_code_once(alice_client, alice, bob, home, carol_csr):
    code = issue_code(home.account, csr=carol_csr)

    response = alice_client.post("/my/enroll/account/", {"action": "code", "code": code.lower()})

    assert response["Location"] == "/my/enroll/premise/"
    assert AccountLink.objects.filter(user=alice, account=home.account).exists()
    alice_client.force_login(bob)
    assert (
        REFUSED in alice_client.post("/my/enroll/account/", {"action": "code", "code": code}).content.decode()
    )


def test_it_refuses_to_choose_an_account_that_is_not_linked(alice_client, alice, home):
    someone_elses = PremiseFactory().account
    AccountLink.objects.create(user=alice, account=home.account, method="csr")

    response = alice_client.post("/my/enroll/account/", {"action": "choose", "account": someone_elses.pk})

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert EnrollmentDraft.objects.get().data == {}


def test_it_refuses_a_premise_that_is_not_on_the_chosen_account(alice_client, alice, home):
    other_linked = PremiseFactory()
    AccountLink.objects.create(user=alice, account=home.account, method="csr")
    AccountLink.objects.create(user=alice, account=other_linked.account, method="csr")
    alice_client.post("/my/enroll/account/", {"action": "choose", "account": home.account.pk})

    response = alice_client.post("/my/enroll/premise/", {"premise": other_linked.pk})

    page = response.content.decode()
    assert "Choose one of your account&#x27;s service addresses." in page
    assert 'aria-describedby="id_premise_error"' in page
    assert "premise_id" not in EnrollmentDraft.objects.get().data


@pytest.mark.parametrize(
    ("vin", "message"),
    [
        (VIN[:16], "A VIN has 17 characters; this one has 16."),
        (VIN[:10] + "O" + VIN[11:], "A VIN never contains the letters I, O or Q"),
        (VIN[:10] + "I" + VIN[11:], "A VIN never contains the letters I, O or Q"),
        (VIN[:10] + "Q" + VIN[11:], "A VIN never contains the letters I, O or Q"),
        (VIN[:8] + str((int(VIN[8]) + 1) % 10) + VIN[9:], "check digit (9th character) does not match"),
    ],
)
def test_it_refuses_a_mistyped_vin_and_says_what_is_wrong(at_vehicle_step, vin, message):
    response = at_vehicle_step.post("/my/enroll/vehicle/", {"vin": vin})

    page = response.content.decode()
    assert response.status_code == 200
    assert message in page
    assert 'aria-describedby="id_vin_helptext id_vin_error"' in page
    assert 'aria-invalid="true"' in page
    assert "vin" not in EnrollmentDraft.objects.get().data


def test_it_refuses_an_enrolled_vin_and_links_to_the_transfer_request(at_vehicle_step):
    EnrollmentFactory(pev=PevFactory(vin=VIN))

    page = at_vehicle_step.post("/my/enroll/vehicle/", {"vin": VIN}).content.decode()

    assert "This vehicle is already enrolled." in page
    assert f'href="/my/enroll/vehicle/transfer/?vin={VIN}"' in page


def test_it_refuses_a_plan_not_offered_at_the_premise(alice_client, alice, sce_programs):
    elsewhere = PremiseFactory()  # on a default tariff EV Prime is not offered for
    AccountLink.objects.create(user=alice, account=elsewhere.account, method="csr")
    alice_client.post("/my/enroll/account/", {"action": "choose", "account": elsewhere.account.pk})
    alice_client.post("/my/enroll/premise/", {"premise": elsewhere.pk})
    alice_client.post("/my/enroll/vehicle/", {"vin": VIN})
    assert "EV Prime" not in alice_client.get("/my/enroll/plan/").content.decode()

    for code in ["ev-prime", "no-such-plan"]:
        response = alice_client.post("/my/enroll/plan/", {"plan": code})
        assert response.status_code == 200
        assert "This plan is not offered at this premise." in response.content.decode()
    assert "plan_id" not in EnrollmentDraft.objects.get().data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"guest_charging": "declined", "guest_vins": north_american_vin(7)},
            "A guest list applies only when",
        ),
        ({"guest_charging": "host", "guest_vins": VIN}, "is the vehicle being enrolled, not a guest"),
        ({"guest_charging": "host", "guest_vins": "NOTAVIN"}, "A VIN has 17 characters"),
        ({"guest_charging": "everyone"}, "Select a valid choice"),
    ],
)
def test_it_refuses_bad_guest_preferences(at_vehicle_step, data, message):
    at_vehicle_step.post("/my/enroll/vehicle/", {"vin": VIN})
    at_vehicle_step.post("/my/enroll/plan/", {"plan": "ev-standard"})

    response = at_vehicle_step.post("/my/enroll/preferences/", data)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert "guest_charging" not in EnrollmentDraft.objects.get().data


def test_it_keeps_the_draft_when_the_vin_is_enrolled_before_confirming(at_vehicle_step):
    at_vehicle_step.post("/my/enroll/vehicle/", {"vin": VIN})
    at_vehicle_step.post("/my/enroll/plan/", {"plan": "ev-standard"})
    at_vehicle_step.post("/my/enroll/preferences/", {"guest_charging": "declined"})
    EnrollmentFactory(pev=PevFactory(vin=VIN))

    page = at_vehicle_step.post("/my/enroll/review/").content.decode()

    assert "This vehicle is already enrolled." in page
    assert f"/my/enroll/vehicle/transfer/?vin={VIN}" in page
    assert EnrollmentDraft.objects.get().data["vin"] == VIN
    assert Enrollment.objects.count() == 1
