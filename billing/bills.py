"""Issuing bills from statements (S3; docs/billing.md): once per premise and month, final once issued.

`bill_premises` is what a billing run's chunk calls: it rates the premises that have no bill for the month
yet, issues a bill for each whose data is complete, holds the others for a CSR, and advances the metering
`billed_through` mark of every meter a bill consumed — all in one transaction, so a chunk redone after a
worker died issues nothing twice, and re-running a month returns the bills it already issued.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import Q

from billing import notifications
from billing.models import Adjustment, Bill, BillHold, BillingRun, BillLine
from billing.rating import LineDraft, Statement, month_span, rate_premises
from pevportal.audit import record
from pevportal.models import Channel

_THOUSANDTH = Decimal("0.001")


@dataclass
class Outcome:
    issued: int = 0
    held: int = 0
    skipped: int = 0  # billed or held already: unchanged


class HoldNotReleasable(Exception):
    """The hold cannot be released that way (its data is still incomplete, or it is not open)."""


def premises_to_bill(period: dt.date, account=None):
    """Ids of the premises a run over `period` covers: every premise (of `account`, if given)."""
    from enrollment.models import Premise

    premises = Premise.objects.all()
    if account is not None:
        premises = premises.filter(account=account)
    return premises.order_by("pk").values_list("pk", flat=True)


def bill_premises(
    premise_ids, period: dt.date, *, run: BillingRun | None = None, now: dt.datetime
) -> Outcome:
    """Bill these premises for the month of `period`; idempotent (see the module docstring)."""
    from enrollment.models import Premise
    from metering.models import Meter

    period = period.replace(day=1)
    outcome = Outcome()
    with transaction.atomic():
        # Two workers given the same premises (a redelivered chunk) take turns; the second finds the bills.
        ids = list(
            Premise.objects.select_for_update()
            .filter(pk__in=list(premise_ids))
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        # The chunk's meters too, in one statement in id order as ingest and imports lock them (no
        # deadlock), and before rating: a read stored meanwhile would miss this bill yet be marked billed.
        list(
            # of=("self",): the EUMD join is an outer one, whose nullable side PostgreSQL cannot lock.
            Meter.objects.select_for_update(of=("self",))
            .filter(Q(premise_id__in=ids) | Q(eumd__premise_id__in=ids))
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        billed = set(
            Bill.objects.filter(premise_id__in=ids, period=period).values_list("premise_id", flat=True)
        )
        held = set(
            BillHold.objects.filter(
                premise_id__in=ids, period=period, status=BillHold.Status.OPEN
            ).values_list("premise_id", flat=True)
        )
        outcome.skipped = len(billed)
        todo = [pk for pk in ids if pk not in billed]
        true_ups = _true_ups(todo, period)
        issued = []
        for statement in rate_premises(todo, period) if todo else []:
            if statement.hold is not None:
                if statement.premise_id in held:
                    outcome.skipped += 1
                    continue
                BillHold.objects.create(
                    premise_id=statement.premise_id,
                    period=period,
                    reason=statement.hold.reason,
                    detail=statement.hold.detail,
                    run=run,
                )
                outcome.held += 1
                continue
            trued_up = true_ups.get(statement.premise_id, [])
            statement.lines.extend(line for _, line in trued_up)
            issued.append(
                issue(statement, run=run, now=now, trues_up=[estimated.pk for estimated, _ in trued_up])
            )
            if statement.premise_id in held:
                # The data is complete now (corrected since): the hold is over.
                BillHold.objects.filter(
                    premise_id=statement.premise_id, period=period, status=BillHold.Status.OPEN
                ).update(status=BillHold.Status.RELEASED, release=BillHold.Release.CORRECTED, released_at=now)
            outcome.issued += 1
        notifications.bills_issued(issued)
    return outcome


def issue(
    statement: Statement, *, run: BillingRun | None, now: dt.datetime, estimated: bool = False, trues_up=()
) -> Bill:
    """Write a statement as a final bill, take its pending adjustments and mark its meters billed.
    `trues_up`: ids of estimated bills whose true-up lines the statement carries."""
    from metering.models import Meter, MeterKind

    bill = Bill.objects.create(
        account_id=statement.account_id,
        premise_id=statement.premise_id,
        period=statement.period,
        starts_at=statement.starts_at,
        ends_at=statement.ends_at,
        total=statement.total,
        estimated=estimated,
        run=run,
        issued_at=now,
    )
    BillLine.objects.bulk_create(
        BillLine(
            bill=bill,
            position=position,
            kind=line.kind,
            description=line.description[:200],
            tariff_id=line.tariff_id,
            enrollment_id=line.enrollment_id,
            period_label=line.period_label,
            quantity=line.quantity.quantize(_THOUSANDTH),
            unit=line.unit,
            unit_price=line.unit_price,
            amount_unrounded=line.amount_unrounded,
            amount=line.amount,
        )
        for position, line in enumerate(statement.lines, start=1)
    )
    # Only the adjustments this statement rated: one added since waits for the next bill.
    carried = [line.adjustment_id for line in statement.lines if line.adjustment_id]
    Adjustment.objects.filter(pk__in=carried, bill__isnull=True).update(bill=bill)
    Bill.objects.filter(pk__in=list(trues_up)).update(trued_up_by=bill)
    # Reads up to the end of the month are billed now: later values become revisions (metering/storing.py).
    # The EUMDs' marks move to the month's end; the revenue meter's stops at the first month of this
    # premise still waiting for data — held, or estimated and not yet trued up — so that month's missing
    # reads are still stored when they arrive (and this bill, if estimated, is trued up against them).
    Meter.objects.filter(pk__in=statement.meter_ids).exclude(kind=MeterKind.PREMISE).filter(
        Q(billed_through__isnull=True) | Q(billed_through__lt=statement.ends_at)
    ).update(billed_through=statement.ends_at)
    through = min([statement.ends_at, *_still_open(statement.premise_id, statement.ends_at)])
    Meter.objects.filter(pk__in=statement.meter_ids, kind=MeterKind.PREMISE).filter(
        Q(billed_through__isnull=True) | Q(billed_through__lt=through)
    ).update(billed_through=through)
    return bill


def _still_open(premise_id: int, before: dt.datetime) -> list[dt.datetime]:
    """Starts of this premise's months still waiting for revenue-meter data: open holds and estimated
    bills not yet trued up."""
    from enrollment.models import Premise

    zone = Premise.objects.select_related("default_tariff").get(pk=premise_id).default_tariff.zone
    held = BillHold.objects.filter(premise_id=premise_id, status=BillHold.Status.OPEN)
    starts = [month_span(period, zone)[0] for period in held.values_list("period", flat=True)]
    estimated = Bill.objects.filter(premise_id=premise_id, estimated=True, trued_up_by__isnull=True)
    starts += estimated.values_list("starts_at", flat=True)
    return [start for start in starts if start < before]


def _true_ups(premise_ids: list[int], period: dt.date) -> dict[int, list]:
    """Per premise, its estimated bills of earlier months whose data is complete now, each with the line
    that carries the difference between the measured and the estimated energy."""
    estimated = (
        Bill.objects.filter(
            premise_id__in=premise_ids, estimated=True, trued_up_by__isnull=True, period__lt=period
        )
        .prefetch_related("lines")
        .order_by("period")
    )
    found: dict[int, list] = {}
    for bill in estimated:
        (measured,) = rate_premises([bill.premise_id], bill.period)
        if measured.hold is not None:
            continue  # still incomplete: tried again next month
        difference = _energy(measured.lines) - _energy(bill.lines.all())
        line = LineDraft(
            BillLine.Kind.ADJUSTMENT,
            f"True-up of the estimated {bill.period:%B %Y} bill",
            Decimal(1),
            "each",
            difference,
            difference,
        )
        found.setdefault(bill.premise_id, []).append((bill, line))
    return found


def _energy(lines) -> Decimal:
    energy = (BillLine.Kind.PEV_ENERGY, BillLine.Kind.PREMISE_ENERGY)
    return sum((line.amount_unrounded for line in lines if line.kind in energy), Decimal(0))


def release_hold(hold: BillHold, *, by, release: str, note: str, now: dt.datetime) -> Bill:
    """A CSR releases a held month: `corrected` bills it as measured (the data must be complete now);
    `estimate` bills it with the missing premise energy estimated pro rata, marked as an estimate."""
    with transaction.atomic():
        hold = BillHold.objects.select_for_update().get(pk=hold.pk)
        if hold.status != BillHold.Status.OPEN:
            raise HoldNotReleasable("This hold has already been released.")
        (statement,) = rate_premises([hold.premise_id], hold.period)
        if release == BillHold.Release.CORRECTED:
            if statement.hold is not None:
                raise HoldNotReleasable(
                    f"The month still cannot be billed as measured: {statement.hold.reason}."
                )
            bill = issue(statement, run=hold.run, now=now)
        else:
            _estimate(statement)
            bill = issue(statement, run=hold.run, now=now, estimated=True)
        notifications.bills_issued([bill])
        hold.status = BillHold.Status.RELEASED
        hold.release, hold.released_by, hold.released_at, hold.note = release, by, now, note
        hold.save()
        record(
            action="bill_hold.released",
            target=hold,
            actor=by,
            channel=Channel.PHONE,
            after={"release": release, "bill": bill.pk, "note": note},
        )
    return bill


def _estimate(statement: Statement) -> None:
    """Scale the measured premise energy up to the whole month, the simplest estimate a customer can
    follow; the next bill trues it up once the month's reads are complete (`_true_ups`). Refused when there
    is nothing to estimate from, or nothing missing (release it as corrected instead)."""
    detail = statement.hold.detail if statement.hold else {}
    covered, month = detail.get("covered_seconds"), detail.get("month_seconds")
    if not covered or not month:
        raise HoldNotReleasable(
            "There is no revenue-meter data this month to estimate from, or nothing is missing: "
            "correct the data, or release it as corrected."
        )
    factor = Decimal(month) / Decimal(covered)
    # A minimum charge tops the measured lines up to the minimum: scaled lines need a new top-up, if any.
    minimum = [line for line in statement.lines if line.kind == BillLine.Kind.MINIMUM_CHARGE]
    floor = sum((line.amount_unrounded for line in statement.lines), Decimal(0)) if minimum else None
    statement.lines = [line for line in statement.lines if line.kind != BillLine.Kind.MINIMUM_CHARGE]
    for line in statement.lines:
        if line.kind == BillLine.Kind.PREMISE_ENERGY:
            line.quantity *= factor
            line.amount_unrounded *= factor
            line.description = f"{line.description} (estimated)"
    if floor is not None:
        shortfall = floor - sum((line.amount_unrounded for line in statement.lines), Decimal(0))
        if shortfall > 0:
            minimum[0].amount_unrounded = shortfall
            statement.lines.append(minimum[0])
    statement.hold = None
