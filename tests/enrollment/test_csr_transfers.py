"""Vehicle sold: the CSR review queue shows each pending transfer beside the enrollment it would end, and
approves (the seller's enrollment ends, the buyer's starts) or rejects it with a note."""

import pytest

from billing.models import Tariff
from enrollment.enrolling import EnrollmentRequest, enroll, request_transfer
from enrollment.models import Enrollment, ServicePlan, TransferRequest
from pevportal.models import AuditRecord
from tests.factories import PremiseFactory, north_american_vin

VIN = north_american_vin(55)


@pytest.fixture
def transfer(sce_programs, bob):
    tou = Tariff.objects.get(code="SCE-TOU-D-4-9PM")
    plan = ServicePlan.objects.get(code="ev-standard")
    sellers = PremiseFactory(premise_id="P-SELLER", account__customer__name="Sam Seller", default_tariff=tou)
    enroll(EnrollmentRequest(account=sellers.account, premise=sellers, vin=VIN, plan=plan), channel="web")
    buyers = PremiseFactory(premise_id="P-BUYER", account__customer__name="Bob Ortiz", default_tariff=tou)
    return request_transfer(
        EnrollmentRequest(account=buyers.account, premise=buyers, vin=VIN, plan=plan), user=bob, channel="web"
    )


@pytest.fixture
def carol(client, carol_csr):
    client.force_login(carol_csr)
    return carol_csr


def test_it_lists_pending_transfers_beside_the_current_enrollment(
    client, carol, transfer, django_assert_max_num_queries
):
    with django_assert_max_num_queries(8):
        response = client.get("/csr/transfers/")

    [(listed, current, _form)] = response.context["items"]
    assert listed == transfer
    assert current.premise.premise_id == "P-SELLER"
    html = response.content.decode()
    assert "Sam Seller" in html
    assert "Bob Ortiz" in html


def test_it_approves_a_transfer(client, carol, transfer):
    response = client.post(
        f"/csr/transfers/{transfer.pk}/", {"decision": "approve", "note": "bill of sale seen"}
    )

    assert response.status_code == 302
    assert response["Location"] == "/csr/transfers/"
    transfer.refresh_from_db()
    assert (transfer.status, transfer.decided_by, transfer.decision_note) == (
        "approved",
        carol,
        "bill of sale seen",
    )
    enrollments = {e.premise.premise_id: e.status for e in Enrollment.objects.filter(pev__vin=VIN)}
    assert enrollments == {"P-SELLER": "ended", "P-BUYER": "pending_commissioning"}
    assert AuditRecord.objects.filter(action="transfer.approved", actor=carol).exists()
    assert client.get("/csr/transfers/").context["items"] == []


def test_it_rejects_a_transfer_only_with_a_note(client, carol, transfer):
    url = f"/csr/transfers/{transfer.pk}/"

    refused = client.post(url, {"decision": "reject", "note": " "})
    assert refused.context["form"].errors["note"] == ["Say why the transfer is rejected."]
    assert 'id="id_note_error"' in refused.content.decode()

    response = client.post(url, {"decision": "reject", "note": "seller still owns the car"})

    assert response.status_code == 302
    transfer.refresh_from_db()
    assert (transfer.status, transfer.decision_note) == ("rejected", "seller still owns the car")
    assert Enrollment.objects.get(pev__vin=VIN).premise.premise_id == "P-SELLER"


def test_it_refuses_to_decide_twice(client, carol, transfer):
    url = f"/csr/transfers/{transfer.pk}/"
    client.post(url, {"decision": "reject", "note": "no"})

    response = client.post(url, {"decision": "approve"})

    assert response.status_code == 200
    assert "already decided" in response.content.decode()
    assert TransferRequest.objects.get().status == "rejected"
