"""Linking a login to a utility account (wizard step 2): all three details or a CSR's one-time code,
rate-limited per user and per account, never saying which detail was wrong."""

import datetime as dt

import pytest
from django.utils import timezone

from enrollment.linking import (
    ACCOUNT_FAILURES_ALLOWED,
    USER_FAILURES_ALLOWED,
    LinkRefused,
    issue_code,
    link_account,
    redeem_code,
)
from enrollment.models import AccountLink, EnrollmentCode, LinkAttempt
from pevportal.models import AuditRecord
from tests.factories import PremiseFactory


@pytest.fixture
def premise(db):
    return PremiseFactory(
        account__number="7001000001", account__customer__phone="6265550101", postal_code="91105"
    )


def link(user, **overrides):
    details = {"account_number": "7001000001", "postal_code": "91105", "phone_last4": "0101", **overrides}
    return link_account(user, **details)


def test_it_links_when_all_three_details_match(alice, premise):
    result = link(alice, postal_code="91105-1234", account_number=" 7001000001 ")

    assert result.account == premise.account
    assert result.method == AccountLink.Method.VERIFIED
    assert AuditRecord.objects.filter(action="account.linked").count() == 1


def test_it_links_a_second_household_member_and_is_idempotent(alice, bob, premise):
    link(alice)
    link(bob)
    link(alice)

    assert AccountLink.objects.filter(account=premise.account).count() == 2


@pytest.mark.parametrize(
    "overrides",
    [
        {"account_number": "7001000002"},
        {"postal_code": "90210"},
        {"phone_last4": "9999"},
        {"phone_last4": "01"},
    ],
)
def test_it_refuses_with_the_same_message_whatever_was_wrong(alice, premise, overrides):
    with pytest.raises(LinkRefused) as excinfo:
        link(alice, **overrides)

    assert excinfo.value.message.startswith("We could not verify those details.")
    assert not excinfo.value.rate_limited
    assert not AccountLink.objects.exists()


def test_it_rate_limits_a_user_after_repeated_failures(alice, premise):
    for _ in range(USER_FAILURES_ALLOWED):
        with pytest.raises(LinkRefused):
            link(alice, phone_last4="0000")

    with pytest.raises(LinkRefused) as excinfo:
        link(alice)  # even the right details are refused while the limit holds

    assert excinfo.value.rate_limited
    assert not AccountLink.objects.exists()


def test_it_rate_limits_an_account_across_users(alice, premise, django_user_model):
    for n in range(ACCOUNT_FAILURES_ALLOWED):
        user = django_user_model.objects.create_user(f"guesser{n}", password="x-long-password-1")
        with pytest.raises(LinkRefused):
            link(user, phone_last4="0000")

    with pytest.raises(LinkRefused) as excinfo:
        link(alice)

    assert excinfo.value.rate_limited


def test_it_forgets_failures_after_the_window(alice, premise):
    for _ in range(USER_FAILURES_ALLOWED):
        with pytest.raises(LinkRefused):
            link(alice, phone_last4="0000")
    LinkAttempt.objects.update(at=timezone.now() - dt.timedelta(minutes=16))

    assert link(alice).account == premise.account


def test_it_links_with_a_one_time_code_exactly_once(alice, bob, carol_csr, premise):
    code = issue_code(premise.account, csr=carol_csr)

    assert redeem_code(alice, code.lower()).method == AccountLink.Method.CODE
    with pytest.raises(LinkRefused):
        redeem_code(bob, code)
    assert not EnrollmentCode.objects.filter(code_hash__contains=code.replace("-", "")).exists()


def test_it_refuses_an_expired_code(alice, carol_csr, premise):
    code = issue_code(premise.account, csr=carol_csr)
    EnrollmentCode.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))

    with pytest.raises(LinkRefused):
        redeem_code(alice, code)
    assert LinkAttempt.objects.filter(user=alice).count() == 1
