"""Look-ups for the CSR screens (phone channel): find the caller, load what the customer page shows in a fixed
number of queries, line up pending transfers with the enrollment they would end, and read an enrollment's
audit trail. Read-only: every change goes through enrolling, lifecycle or linking."""

import re
from dataclasses import dataclass
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db.models import Case, Exists, OuterRef, Prefetch, Q, When
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from enrollment.models import (
    AccountLink,
    CommissioningWindow,
    Customer,
    Enrollment,
    PlanAssignment,
    Premise,
    ServicePlan,
    TransferRequest,
    UtilityAccount,
)
from enrollment.vin import VIN_LENGTH, normalize_vin
from pevportal.models import AuditRecord

# A phone number as people say it: digits with spaces, dashes, dots, brackets or a leading +.
_PHONE_LIKE = re.compile(r"^\+?[\d\s().-]+$")
_MIN_PHONE_DIGITS = 7
# Callers read out the end of a VIN (the serial number); shorter tails match too many vehicles.
_MIN_VIN_TAIL = 6
ACCOUNT_HISTORY_ACTIONS = ("enrollment_code.issued", "account.linked")
ACTION_LABELS = {
    "enrollment.created": _("Enrolled"),
    "enrollment.preferences_changed": _("Preferences changed"),
    "enrollment.plan_switch_scheduled": _("Plan switch scheduled"),
    "enrollment.plan_switched": _("Plan switched"),
    "enrollment.commissioning_reopened": _("Commissioning window re-opened"),
    "enrollment.ended": _("Enrollment ended"),
    "enrollment_code.issued": _("One-time enrollment code issued"),
    "account.linked": _("Login linked to the account"),
}


def find_customers(query: str):
    """Customers matching a caller's account number, name, phone (any formatting), email, VIN (or its last
    six or more characters), premise ID or service address; accounts and premises come prefetched."""
    query = query.strip()
    if not query:
        return Customer.objects.none()
    matches = Q(name__icontains=query) | Q(
        Exists(Premise.objects.matching(q=query).filter(account__customer=OuterRef("pk")))
    )
    if "@" in query:
        matches |= Q(email__iexact=query)
    digits = re.sub(r"\D", "", query)
    if _PHONE_LIKE.match(query) and len(digits) >= _MIN_PHONE_DIGITS:
        # The CIS stores ten digits; a caller may add the country code.
        national = digits[1:] if len(digits) == 11 and digits.startswith("1") else digits
        matches |= Q(phone__endswith=national)
    vin = normalize_vin(query)
    if len(vin) >= _MIN_VIN_TAIL and vin.isalnum() and any(ch.isdigit() for ch in vin):
        by_vin = {"pev__vin": vin} if len(vin) == VIN_LENGTH else {"pev__vin__endswith": vin}
        matches |= Q(Exists(Enrollment.objects.filter(account__customer=OuterRef("pk"), **by_vin)))
    return Customer.objects.filter(matches).order_by("name", "pk").prefetch_related(_accounts_with_premises())


def customer_for_csr(pk: int) -> Customer:
    """One customer with accounts, premises (marked enrolled or not) and linked login users prefetched."""
    accounts = _accounts_with_premises(
        UtilityAccount.objects.prefetch_related(
            Prefetch(
                "links",
                queryset=AccountLink.objects.select_related("user").order_by("linked_at"),
                to_attr="user_links",
            )
        )
    )
    return Customer.objects.prefetch_related(accounts).get(pk=pk)


def enrollments_for_customer(customer: Customer) -> list[Enrollment]:
    """The customer's enrollments, current ones first, with vehicle, premise, plan, the latest commissioning
    window (`windows[0]`) and any scheduled plan switch (`scheduled`) loaded in four queries."""
    now = timezone.now()
    return list(
        Enrollment.objects.filter(account__customer=customer)
        .select_related("pev", "premise__default_tariff", "plan__program", "account")
        .prefetch_related(
            Prefetch(
                "commissioning_windows",
                queryset=CommissioningWindow.objects.order_by("-opens_at"),
                to_attr="windows",
            ),
            Prefetch(
                "plan_assignments",
                queryset=PlanAssignment.objects.filter(effective_from__gt=now).select_related("plan"),
                to_attr="scheduled",
            ),
        )
        .alias(ended=Case(When(status=Enrollment.Status.ENDED, then=1), default=0))
        .order_by("ended", "-effective_from", "-pk")
    )


def transfers_for_customer(customer: Customer) -> list[TransferRequest]:
    """Transfer requests this customer's accounts filed (they are the buyer), newest first."""
    return list(
        TransferRequest.objects.filter(account__customer=customer)
        .select_related("account", "premise", "plan")
        .order_by("-created_at")
    )


def pending_transfers() -> list[tuple[TransferRequest, Enrollment | None]]:
    """Each pending transfer, oldest first, beside the current enrollment of its VIN (the seller's)."""
    transfers = list(
        TransferRequest.objects.filter(status=TransferRequest.Status.PENDING).select_related(
            "account__customer", "premise__default_tariff", "plan__program", "requested_by"
        )
    )
    current = {
        enrollment.pev.vin: enrollment
        for enrollment in Enrollment.objects.current()
        .filter(pev__vin__in={t.vin for t in transfers})
        .select_related("pev", "account__customer", "premise", "plan__program")
    }
    return [(transfer, current.get(transfer.vin)) for transfer in transfers]


@dataclass(frozen=True)
class HistoryEntry:
    """One audit record as the history page shows it: changes as (field, before, after) display strings."""

    record: AuditRecord
    changes: list[tuple[str, str, str]]

    @property
    def label(self) -> str:
        return ACTION_LABELS.get(self.record.action, self.record.action)

    @property
    def who(self) -> str:
        actor = self.record.actor
        return (actor.get_full_name() or actor.get_username()) if actor else self.record.actor_label


def enrollment_history(enrollment: Enrollment) -> list[HistoryEntry]:
    """The enrollment's audit trail and its account's code issues and login links, newest first.

    `enrollment` must have pev, account and premise loaded: the snapshots name them by id."""
    content_types = ContentType.objects.get_for_models(Enrollment, UtilityAccount)
    records = list(
        AuditRecord.objects.filter(
            Q(target_type=content_types[Enrollment], target_id=str(enrollment.pk))
            | Q(
                target_type=content_types[UtilityAccount],
                target_id=str(enrollment.account_id),
                action__in=ACCOUNT_HISTORY_ACTIONS,
            )
        )
        .select_related("actor")
        .order_by("-at", "-pk")
    )
    plan_ids = {
        snapshot["plan"]
        for record in records
        for snapshot in (record.before, record.after)
        if isinstance(snapshot, dict) and isinstance(snapshot.get("plan"), int)
    }
    names = {
        "pev": {enrollment.pev_id: enrollment.pev.vin},
        "account": {enrollment.account_id: enrollment.account.number},
        "premise": {enrollment.premise_id: enrollment.premise.premise_id},
        "plan": {plan.pk: plan.code for plan in ServicePlan.objects.filter(pk__in=plan_ids)},
    }
    return [HistoryEntry(record, _changes(record.before, record.after, names)) for record in records]


def _changes(before: dict | None, after: dict | None, names: dict) -> list[tuple[str, str, str]]:
    before, after = before or {}, after or {}
    keys = list(dict.fromkeys([*before, *after]))
    return [
        (key, _shown(key, before.get(key), names), _shown(key, after.get(key), names))
        for key in keys
        if before.get(key) != after.get(key)
    ]


def _shown(key: str, value: Any, names: dict) -> str:
    """A snapshot value as a CSR reads it: rows by their business key rather than their id."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(_("yes") if value else _("no"))
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or str(_("none"))
    return str(names.get(key, {}).get(value, value))


def _accounts_with_premises(accounts=None) -> Prefetch:
    premises = (
        Premise.objects.select_related("default_tariff")
        .annotate(is_enrolled=Exists(Enrollment.objects.current().filter(premise=OuterRef("pk"))))
        .order_by("premise_id")
    )
    return Prefetch(
        "accounts",
        queryset=(accounts if accounts is not None else UtilityAccount.objects.all())
        .order_by("number")
        .prefetch_related(Prefetch("premises", queryset=premises)),
    )
