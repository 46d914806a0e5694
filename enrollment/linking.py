"""Linking a login user to a utility account (wizard step 2): by what the bill and the CIS know — account
number, service ZIP code and the last four digits of the phone on file — or by a one-time code a CSR issued.

Failures are counted in the database per user and per account number, so the limits hold across web
processes and through a Redis outage. The refusal never says which part was wrong.
"""

import datetime as dt
import hashlib
import re
import secrets
from typing import NoReturn

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from enrollment.models import AccountLink, EnrollmentCode, LinkAttempt, UtilityAccount
from pevportal.audit import record
from pevportal.models import Channel

USER_FAILURES_ALLOWED = 5
USER_WINDOW = dt.timedelta(minutes=15)
ACCOUNT_FAILURES_ALLOWED = 10
ACCOUNT_WINDOW = dt.timedelta(hours=1)
CODE_VALIDITY = dt.timedelta(days=7)
# No 0/O or 1/I/L: codes are read aloud over the phone.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 10


class LinkRefused(Exception):
    """The details did not match, or too many attempts failed; `message` is safe to show."""

    def __init__(self, message: str, *, rate_limited: bool = False):
        super().__init__(message)
        self.message = message
        self.rate_limited = rate_limited


def _not_verified() -> LinkRefused:
    return LinkRefused(
        _(
            "We could not verify those details. Check them against your bill, or call us for a one-time "
            "enrollment code."
        )
    )


def _too_many() -> LinkRefused:
    return LinkRefused(
        _("Too many attempts. Please wait 15 minutes, or call us for a one-time enrollment code."),
        rate_limited=True,
    )


def link_account(user, *, account_number: str, postal_code: str, phone_last4: str) -> AccountLink:
    """Link `user` to the account if all three details match the CIS; raises LinkRefused otherwise."""
    account_number = account_number.strip()
    _check_limits(user, account_number)
    account = (
        UtilityAccount.objects.filter(number=account_number).select_related("customer").first()
        if account_number
        else None
    )
    zip5, last4 = postal_code.strip()[:5], phone_last4.strip()
    if (
        account is None
        or not re.fullmatch(r"\d{5}", zip5)
        or not re.fullmatch(r"\d{4}", last4)
        or not account.customer.phone.endswith(last4)
        or not account.premises.filter(postal_code__startswith=zip5).exists()
    ):
        _fail(user, account_number)
    return _link(user, account, AccountLink.Method.VERIFIED)


def redeem_code(user, code: str) -> AccountLink:
    """Link `user` to the account a CSR issued `code` for; the code then stops working."""
    _check_limits(user, "")
    with transaction.atomic():
        issued = (
            EnrollmentCode.objects.select_for_update()  # two tabs redeeming at once: one wins
            .filter(code_hash=_hash(code), used_at__isnull=True, expires_at__gt=timezone.now())
            .select_related("account")
            .first()
        )
        if issued is not None:
            issued.used_at = timezone.now()
            issued.used_by = user
            issued.save(update_fields=["used_at", "used_by"])
            return _link(user, issued.account, AccountLink.Method.CODE)
    _fail(user, "")  # outside the transaction, so the failure is not rolled back with it


def issue_code(account: UtilityAccount, *, csr) -> str:
    """A new one-time code for `account`, valid for a week; the plain code exists only in the reply."""
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    with transaction.atomic():
        issued = EnrollmentCode.objects.create(
            account=account, code_hash=_hash(code), issued_by=csr, expires_at=timezone.now() + CODE_VALIDITY
        )
        record(
            action="enrollment_code.issued",
            target=account,
            channel=Channel.PHONE,
            actor=csr,
            after={"expires_at": issued.expires_at},
        )
    return f"{code[:5]}-{code[5:]}"


def _hash(code: str) -> str:
    normalised = re.sub(r"[\s-]", "", code).upper()
    return hashlib.sha256(normalised.encode()).hexdigest()


def _check_limits(user, account_number: str) -> None:
    now = timezone.now()
    if LinkAttempt.objects.filter(user=user, at__gt=now - USER_WINDOW).count() >= USER_FAILURES_ALLOWED:
        raise _too_many()
    if (
        account_number
        and LinkAttempt.objects.filter(account_number=account_number, at__gt=now - ACCOUNT_WINDOW).count()
        >= ACCOUNT_FAILURES_ALLOWED
    ):
        raise _too_many()


def _fail(user, account_number: str) -> NoReturn:
    LinkAttempt.objects.create(user=user, account_number=account_number[:32])
    raise _not_verified()


def _link(user, account: UtilityAccount, method: str) -> AccountLink:
    with transaction.atomic():
        link, created = AccountLink.objects.get_or_create(
            user=user, account=account, defaults={"method": method}
        )
        if created:
            record(
                action="account.linked",
                target=account,
                channel=Channel.WEB,
                actor=user,
                after={"user_id": user.pk, "method": method},
            )
    return link
