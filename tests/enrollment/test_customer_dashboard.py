"""The customer's dashboard ("My EV"): linked accounts and their premises, enrolled vehicles, transfer
requests and an enrollment in progress — in a fixed number of queries."""

from enrollment.models import AccountLink, TransferRequest
from tests.factories import EnrollmentFactory, PremiseFactory, UtilityAccountFactory


def link(user, account):
    AccountLink.objects.create(user=user, account=account, method="csr")


def add_household(alice, vehicles: int):
    account = UtilityAccountFactory()
    link(alice, account)
    for _ in range(vehicles):
        EnrollmentFactory(premise=PremiseFactory(account=account))
    TransferRequest.objects.create(
        vin=EnrollmentFactory().pev.vin,
        requested_by=alice,
        account=account,
        premise=account.premises.first(),
        plan=EnrollmentFactory().plan,
        guest_charging="declined",
        channel="web",
    )


def test_it_lists_accounts_vehicles_and_transfers(client, alice, db):
    add_household(alice, vehicles=2)
    client.force_login(alice)

    page = client.get("/my/").content.decode()

    for enrollment in EnrollmentFactory._meta.model.objects.for_user(alice):
        assert enrollment.pev.vin in page
        assert enrollment.premise.service_address in page
        assert f'href="/my/enrollments/{enrollment.pk}/"' in page
    assert "Transfer requests waiting for review" in page
    assert 'href="/my/enroll/"' in page
    assert "My EV" in page


def test_it_invites_a_new_customer_to_link_an_account(client, alice, db):
    client.force_login(alice)

    page = client.get("/my/").content.decode()

    assert "You have not linked a utility account yet" in page
    assert "Enroll a vehicle" in page


# Session, user, the CSR-role check, accounts with their premises, enrollments with their latest binding,
# live panels, transfers, draft, the usage summary (2) and notifications (2): the budget of 12.
QUERIES = 12


def test_it_lists_in_a_fixed_number_of_queries(client, alice, db, django_assert_max_num_queries):
    add_household(alice, vehicles=1)
    client.force_login(alice)
    with django_assert_max_num_queries(QUERIES):
        client.get("/my/")

    for _ in range(3):
        add_household(alice, vehicles=4)
    with django_assert_max_num_queries(QUERIES):
        response = client.get("/my/")
    assert response.content.decode().count('href="/my/enrollments/') == 13
