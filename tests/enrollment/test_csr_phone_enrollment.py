"""A CSR enrolls a caller's PEV by phone: premise, VIN, a plan offered there, guests and roaming, confirm —
with exactly the wizard's validation, and a transfer request when the VIN is enrolled elsewhere."""

import pytest

from billing.models import Tariff
from enrollment.models import Enrollment, EnrollmentChannel, TransferRequest
from pevportal.models import AuditRecord
from tests.factories import EnrollmentFactory, PremiseFactory, north_american_vin

URL = "/csr/accounts/7001000001/enroll/"
VIN = north_american_vin(4242)


@pytest.fixture
def alices_account(sce_programs):
    tou = Tariff.objects.get(code="SCE-TOU-D-4-9PM")
    home = PremiseFactory(
        premise_id="P1000001",
        account__number="7001000001",
        account__customer__name="Alice Nguyen",
        default_tariff=tou,
    )
    PremiseFactory(
        premise_id="P1000009", account=home.account, default_tariff=Tariff.objects.get(code="SCE-TOU-D-PRIME")
    )
    PremiseFactory(premise_id="P1000002", account__number="7001000002", default_tariff=tou)
    return home.account


@pytest.fixture
def carol(client, carol_csr):
    client.force_login(carol_csr)
    return carol_csr


def details(**overrides):
    return {
        "premise": "P1000001",
        "vin": VIN,
        "plan": "ev-prime",
        "guest_charging": "host",
        "guest_vins": "",
        "allow_roaming": "on",
        "action": "review",
        **overrides,
    }


def test_it_guides_from_premise_to_plans_offered_there(client, carol, alices_account):
    first = client.get(URL)
    assert [choice[0] for choice in first.context["form"].fields["premise"].choices] == [
        "P1000001",
        "P1000009",
    ]

    at_home = client.get(URL, {"premise": "P1000001"})
    elsewhere = client.get(URL, {"premise": "P1000009"})

    assert [code for code, _ in at_home.context["form"].fields["plan"].choices] == ["ev-prime", "ev-standard"]
    assert [code for code, _ in elsewhere.context["form"].fields["plan"].choices] == ["ev-standard"]


def test_it_refuses_a_premise_of_another_account_at_the_first_step(client, carol, alices_account):
    response = client.get(URL, {"premise": "P1000002"})

    assert "premise" in response.context["form"].errors
    assert response.templates[0].name == "enrollment/csr/enroll_premise.html"


def test_it_reviews_then_enrolls_by_phone_on_confirmation(client, carol, alices_account):
    review = client.post(URL, details(vin=f" {VIN[:8].lower()}-{VIN[8:]} ", guest_vins=north_american_vin(7)))

    assert review.status_code == 200
    assert review.context["wanted"].vin == VIN
    assert not Enrollment.objects.exists()
    assert "Confirm enrollment" in review.content.decode()

    response = client.post(URL, details(guest_vins=north_american_vin(7), action="confirm"))

    assert response.status_code == 302
    assert response["Location"] == f"/csr/customers/{alices_account.customer_id}/"
    enrollment = Enrollment.objects.get()
    assert enrollment.pev.vin == VIN
    assert enrollment.channel == EnrollmentChannel.PHONE
    assert enrollment.status == Enrollment.Status.PENDING_COMMISSIONING
    assert enrollment.plan.code == "ev-prime"
    assert (enrollment.guest_charging, enrollment.guest_vins, enrollment.allow_roaming) == (
        "host",
        [north_american_vin(7)],
        True,
    )
    audit = AuditRecord.objects.get(action="enrollment.created")
    assert (audit.actor, audit.channel) == (carol, "phone")
    assert enrollment.commissioning_windows.count() == 1


def test_it_goes_back_to_the_details_to_change_them(client, carol, alices_account):
    response = client.post(URL, details(action="edit"))

    assert response.templates[0].name == "enrollment/csr/enroll_details.html"
    assert response.context["form"]["vin"].value() == VIN
    assert not Enrollment.objects.exists()


@pytest.mark.parametrize(
    ("vin", "message"),
    [
        (VIN[:16], "A VIN has 17 characters; this one has 16."),
        (VIN[:12] + "O" + VIN[13:], "A VIN never contains the letters I, O or Q"),
        (VIN[:10] + "I" + VIN[11:], "A VIN never contains the letters I, O or Q"),
        (VIN[:16] + "Q", "A VIN never contains the letters I, O or Q"),
        (VIN[:8] + ("1" if VIN[8] != "1" else "2") + VIN[9:], "check digit (9th character) does not match"),
    ],
)
@pytest.mark.parametrize("action", ["review", "confirm"])
def test_it_refuses_a_bad_vin_next_to_the_field(client, carol, alices_account, vin, message, action):
    response = client.post(URL, details(vin=vin, action=action))

    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors["vin"])
    html = response.content.decode()
    assert 'aria-describedby="id_vin_helptext id_vin_error"' in html
    assert 'id="id_vin_error"' in html
    assert not Enrollment.objects.exists()


def test_it_offers_a_transfer_for_a_vin_enrolled_elsewhere(client, carol, alices_account):
    sellers = EnrollmentFactory(pev__vin=VIN, premise__premise_id="P-SELLER", status=Enrollment.Status.ACTIVE)

    refused = client.post(URL, details(action="confirm"))

    assert "This vehicle is already enrolled." in " ".join(refused.context["form"].errors["vin"])
    assert refused.context["offer_transfer"] is True
    assert "File a transfer request for review" in refused.content.decode()

    filed = client.post(URL, details(action="transfer"))

    assert filed.status_code == 302
    transfer = TransferRequest.objects.get()
    assert (transfer.vin, transfer.account, transfer.requested_by, transfer.channel) == (
        VIN,
        alices_account,
        carol,
        "phone",
    )
    assert transfer.status == TransferRequest.Status.PENDING
    sellers.refresh_from_db()
    assert sellers.status == Enrollment.Status.ACTIVE


def test_it_refuses_a_premise_not_on_the_account(client, carol, alices_account):
    response = client.post(URL, details(premise="P1000002", plan="ev-standard", action="confirm"))

    assert response.context["form"].errors["premise"] == ["This premise is not on the account."]
    assert 'id="id_premise_error"' in response.content.decode()
    assert not Enrollment.objects.exists()


def test_it_refuses_a_plan_not_offered_at_the_premise(client, carol, alices_account):
    response = client.post(URL, details(premise="P1000009", plan="ev-prime", action="confirm"))

    assert response.context["form"].errors["plan"] == ["This plan is not offered at this premise."]
    assert not Enrollment.objects.exists()


def test_it_refuses_a_guest_list_when_guests_are_declined(client, carol, alices_account):
    response = client.post(URL, details(guest_charging="declined", guest_vins=north_american_vin(7)))

    assert "choose who pays for guests first" in " ".join(response.context["form"].errors["guest_vins"])
