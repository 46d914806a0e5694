"""Corrections to issued bills (issue 6; docs/billing.md, "Adjustments"): a finalised bill never changes, so a
CSR adds an adjustment — an amount, its reason and the CSR as approver — that the premise's next bill
carries as a line. The true-up of an estimated bill is one, for now.
"""

from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from billing.models import Adjustment
from enrollment.models import Premise
from pevportal.audit import record, snapshot
from pevportal.models import Channel
from pevportal.roles import is_csr

CENT = Decimal("0.01")
REASON_MAX_LENGTH = Adjustment._meta.get_field("reason").max_length
# The amount column holds 12 digits, 2 after the point.
LIMIT = Decimal(10) ** (Adjustment._meta.get_field("amount").max_digits - 2)


def add_adjustment(premise, *, amount: Decimal, reason: str, by) -> Adjustment:
    """Add a correction for the premise's next bill: positive charges, negative credits, in dollars and
    cents. Only a CSR may; the CSR is recorded as the approver and in the audit trail."""
    if not is_csr(by):
        raise PermissionDenied("Only a customer service representative may add a bill adjustment.")
    amount = _clean_amount(amount)
    reason = _clean_reason(reason)
    with transaction.atomic():
        # Locked as bill_premises locks it: an adjustment added while the premise's next bill is being
        # issued waits, and goes on the bill after, instead of being marked billed without a line.
        premise = Premise.objects.select_for_update().get(pk=premise.pk)
        adjustment = Adjustment.objects.create(premise=premise, amount=amount, reason=reason, approved_by=by)
        record(
            action="adjustment.added",
            target=adjustment,
            actor=by,
            channel=Channel.PHONE,
            after=snapshot(adjustment, ["premise", "amount", "reason", "approved_by"]),
        )
    return adjustment


def _clean_amount(amount: Decimal) -> Decimal:
    if not isinstance(amount, Decimal):
        raise TypeError(f"an adjustment amount is a Decimal, not {type(amount).__name__}")
    if not amount.is_finite() or abs(amount) >= LIMIT:
        raise ValidationError(_("That amount is too large for a bill."), code="amount")
    if amount != amount.quantize(CENT):
        raise ValidationError(_("Give the amount in dollars and cents, e.g. -12.50."), code="amount")
    if not amount:
        raise ValidationError(_("An adjustment of $0.00 changes nothing."), code="amount")
    return amount.quantize(CENT)


def _clean_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(_("Say why: the reason is printed on the customer's bill."), code="reason")
    if len(reason) > REASON_MAX_LENGTH:
        raise ValidationError(
            _("Keep the reason under %(n)s characters.") % {"n": REASON_MAX_LENGTH}, code="reason"
        )
    return reason
