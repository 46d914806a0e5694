"""Who may see and change what under /my/: a customer reaches only enrollments on accounts linked to them
(another customer's are 404), only their own draft, and every POST needs a CSRF token."""

import pytest
from django.test import Client

from enrollment.models import AccountLink, Enrollment, EnrollmentDraft
from tests.factories import EnrollmentFactory, PremiseFactory

ENROLLMENT_PAGES = ["", "enrolled/", "preferences/", "plan/", "commissioning/", "unenroll/"]


@pytest.fixture
def bobs_enrollment(bob, db):
    enrollment = EnrollmentFactory()
    AccountLink.objects.create(user=bob, account=enrollment.account, method="csr")
    return enrollment


@pytest.mark.parametrize("page", ENROLLMENT_PAGES)
def test_it_hides_bobs_enrollment_from_alice(client, alice, bob, bobs_enrollment, page):
    client.force_login(alice)

    assert client.get(f"/my/enrollments/{bobs_enrollment.pk}/{page}").status_code == 404
    client.force_login(bob)
    assert client.get(f"/my/enrollments/{bobs_enrollment.pk}/{page}").status_code == 200


def test_it_does_not_let_alice_change_bobs_enrollment(client, alice, bobs_enrollment):
    client.force_login(alice)
    pk = bobs_enrollment.pk

    responses = [
        client.post(f"/my/enrollments/{pk}/preferences/", {"guest_charging": "host"}),
        client.post(f"/my/enrollments/{pk}/plan/", {"plan": bobs_enrollment.plan.code}),
        client.post(f"/my/enrollments/{pk}/commissioning/", {"reason": "new head unit"}),
        client.post(f"/my/enrollments/{pk}/unenroll/", {"confirm": "on"}),
    ]

    assert [r.status_code for r in responses] == [404] * 4
    bobs_enrollment.refresh_from_db()
    assert (bobs_enrollment.status, bobs_enrollment.guest_charging) == ("pending_commissioning", "declined")
    assert bobs_enrollment.commissioning_windows.count() == 0


def test_it_hides_bobs_history_from_alice(client, alice, bob, bobs_enrollment):
    client.force_login(bob)
    client.post(f"/my/enrollments/{bobs_enrollment.pk}/preferences/", {"guest_charging": "host"})
    assert (
        "Guest and roaming preferences changed"
        in client.get(f"/my/enrollments/{bobs_enrollment.pk}/").content.decode()
    )

    client.force_login(alice)
    assert client.get(f"/my/enrollments/{bobs_enrollment.pk}/").status_code == 404
    assert bobs_enrollment.pev.vin not in client.get("/my/").content.decode()


def test_it_keeps_each_customers_draft_their_own(client, alice, bob, bobs_enrollment):
    client.force_login(bob)
    client.post("/my/enroll/account/", {"action": "choose", "account": bobs_enrollment.account.pk})
    client.post("/my/enroll/premise/", {"premise": bobs_enrollment.premise.pk})

    client.force_login(alice)
    page = client.get("/my/enroll/", follow=True).content.decode()

    assert "Step 2 of 7" in page
    assert bobs_enrollment.account.number not in page
    assert bobs_enrollment.premise.service_address not in page
    assert "Continue where you left off" not in client.get("/my/").content.decode()
    client.post("/my/enroll/discard/")
    assert EnrollmentDraft.objects.get().user == bob


def test_it_does_not_let_a_customer_without_a_linked_account_choose_someones_premise(client, alice, db):
    bobs_premise = PremiseFactory()
    client.force_login(alice)

    response = client.post("/my/enroll/premise/", {"premise": bobs_premise.pk})
    assert response["Location"] == "/my/enroll/account/"
    response = client.post("/my/enroll/account/", {"action": "choose", "account": bobs_premise.account.pk})
    assert "Select a valid choice" in response.content.decode()

    assert EnrollmentDraft.objects.get().data == {}
    assert not AccountLink.objects.exists()


@pytest.mark.parametrize(
    "path", ["/my/", "/my/enroll/", "/my/enroll/review/", "/my/enrollments/1/", "/my/enrollments/1/unenroll/"]
)
def test_it_sends_visitors_to_sign_in(client, db, path):
    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"].startswith(f"/accounts/login/?next={path}")


def test_it_requires_a_csrf_token_on_every_post(alice, bobs_enrollment, db):
    AccountLink.objects.create(user=alice, account=bobs_enrollment.account, method="csr")
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    pk = bobs_enrollment.pk

    for path, data in [
        ("/my/enroll/account/", {"action": "choose", "account": bobs_enrollment.account.pk}),
        ("/my/enroll/discard/", {}),
        (f"/my/enrollments/{pk}/preferences/", {"guest_charging": "host"}),
        (f"/my/enrollments/{pk}/unenroll/", {"confirm": "on"}),
    ]:
        assert client.post(path, data).status_code == 403, path

    assert Enrollment.objects.get().status == "pending_commissioning"
    assert not EnrollmentDraft.objects.exists()
