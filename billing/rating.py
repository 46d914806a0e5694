"""Rating a month of interval reads into bill lines (S3, Req 7, 10; BR.4, BR.6, BR.8; docs/billing.md).

For each premise and month (a calendar month in its default tariff's time zone):

- PEV energy: reads of bound sessions billed to an enrollment at this premise, priced at the enrollment's
  plan tariff (the plan in force at each interval), one line per plan tariff, TOU period and price.
- Premise net energy: the revenue meter's energy minus the bound PEV energy measured at this premise —
  whoever it is billed to — priced at the premise's default tariff. Energy of unbound, timed-out and
  failed-correlation sessions is simply not subtracted: it stays premise energy (BR.4, BR.6).
- Fixed charges and credits of the default tariff, per day in force; the EV submeter credit of a PEV plan
  per day the enrollment was in force; a minimum charge when the total falls short; pending adjustments.

Set-based: the reads are summed per premise (or enrollment) and UTC hour in SQL, and priced with numpy
over whole arrays — the price of an interval is that of its local start, and tariff periods change only
on the hour, so every interval inside one UTC hour has one price (checked: a zone whose offset is not a
whole number of hours is refused). Amounts are exact decimals: kWh (Wh / 1000) × the tariff's price.
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncHour

from billing.models import BillLine, ChargeUnit, CreditApplies, Tariff, TariffVersion
from billing.schedule import price_segments

UTC = dt.UTC
CENT = Decimal("0.01")
KWH = Decimal(1000)


class RatingError(Exception):
    """The month cannot be rated at all (e.g. a tariff with no version in force)."""


@dataclass
class LineDraft:
    kind: str
    description: str
    quantity: Decimal
    unit: str
    unit_price: Decimal | None
    amount_unrounded: Decimal
    tariff_id: int | None = None
    enrollment_id: int | None = None
    period_label: str = ""
    adjustment_id: int | None = None  # the Adjustment this line carries

    @property
    def amount(self) -> Decimal:
        """Rounded to the cent once, half up (docs/billing.md, "Money")."""
        return self.amount_unrounded.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass
class Hold:
    reason: str
    detail: dict = field(default_factory=dict)


@dataclass
class Statement:
    """What a premise's bill for the month would say, or why it cannot be issued (`hold`)."""

    premise_id: int
    account_id: int
    period: dt.date
    starts_at: dt.datetime
    ends_at: dt.datetime
    lines: list[LineDraft] = field(default_factory=list)
    hold: Hold | None = None
    meter_ids: set[int] = field(default_factory=set)  # meters whose reads this bill consumed

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0.00"))


def month_span(period: dt.date, zone) -> tuple[dt.datetime, dt.datetime]:
    """[local midnight of the 1st, local midnight of the next 1st) in UTC."""
    first = period.replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    return (
        dt.datetime.combine(first, dt.time(), zone).astimezone(UTC),
        dt.datetime.combine(following, dt.time(), zone).astimezone(UTC),
    )


def rate_premises(premise_ids: Sequence[int], period: dt.date) -> list[Statement]:
    """Statements for these premises' month, in a fixed number of queries per time zone."""
    first = period.replace(day=1)
    return rate_days(
        premise_ids, first, (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    )


def rate_days(premise_ids: Sequence[int], first_day: dt.date, last_day: dt.date) -> list[Statement]:
    """Statements over local days first_day..last_day of one month (a bill's month, or part of one)."""
    from enrollment.models import Premise

    premises = list(
        Premise.objects.filter(pk__in=list(premise_ids))
        .select_related("default_tariff")
        .order_by("pk")
        .only("pk", "account_id", "default_tariff")
    )
    by_zone: dict[str, list] = defaultdict(list)
    for premise in premises:
        by_zone[premise.default_tariff.time_zone].append(premise)
    statements = []
    for group in by_zone.values():
        statements.extend(_Span(group, first_day, last_day).statements())
    return statements


class _Prices:
    """Per tariff, the price key of every UTC hour of the month, and each key's (version, label, price)."""

    def __init__(self, start: dt.datetime, end: dt.datetime):
        self.start, self.end = start, end
        self.hours = int((end - start).total_seconds() // 3600)
        self.keys: dict[int, np.ndarray] = {}
        self.runs: list[tuple[int, int, str, Decimal]] = []  # key → (tariff, version, label, price)
        self._index: dict[tuple, int] = {}

    def of(self, tariff_id: int) -> np.ndarray:
        if tariff_id not in self.keys:
            self.keys[tariff_id] = self._build(tariff_id)
        return self.keys[tariff_id]

    def _build(self, tariff_id: int) -> np.ndarray:
        tariff = Tariff.objects.get(pk=tariff_id)
        keys = np.full(self.hours, -1, dtype=np.int64)
        try:
            segments = price_segments(tariff, self.start, self.end)
        except LookupError as error:
            raise RatingError(str(error)) from error
        for segment in segments:
            if segment.start.minute or segment.start.second:
                raise RatingError(f"{tariff.code}: periods must change on the UTC hour to be rated by hour")
            run = (tariff_id, segment.version_id, segment.period_label, segment.price)
            key = self._index.setdefault(run, len(self.runs))
            if key == len(self.runs):
                self.runs.append(run)
            first = int((segment.start - self.start).total_seconds() // 3600)
            last = int(np.ceil((segment.end - self.start).total_seconds() / 3600))
            keys[first:last] = key
        return keys


class _Span:
    """Local days first_day..last_day of one month, for premises whose default tariff shares a zone."""

    def __init__(self, premises: list, first_day: dt.date, last_day: dt.date):
        self.premises = {p.pk: p for p in premises}
        self.period = first_day
        self.zone = premises[0].default_tariff.zone
        self.start = dt.datetime.combine(first_day, dt.time(), self.zone).astimezone(UTC)
        self.end = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(), self.zone).astimezone(UTC)
        self.prices = _Prices(self.start, self.end)
        self.days = [first_day + dt.timedelta(days=n) for n in range((last_day - first_day).days + 1)]
        month = first_day.replace(day=1)
        self.days_in_month = ((month + dt.timedelta(days=32)).replace(day=1) - month).days

    def statements(self) -> list[Statement]:
        from enrollment.models import Enrollment

        ids = list(self.premises)
        statements = {
            pk: Statement(pk, p.account_id, self.period, self.start, self.end)
            for pk, p in self.premises.items()
        }
        enrollments = {
            e.pk: e
            for e in Enrollment.objects.filter(premise_id__in=ids)
            .filter(effective_from__lt=self.end)
            .filter(Q(effective_to__isnull=True) | Q(effective_to__gt=self.start))
            .select_related("plan")
            .prefetch_related("plan_assignments__plan")
        }
        premise_hours = self._premise_hours(ids)
        pev_rows = self._pev_hours(ids, enrollments)
        meters = self._meters(ids)
        holds = self._holds(ids, meters)
        for pk, statement in statements.items():
            statement.hold = holds.get(pk)
            statement.meter_ids = meters.get(pk, set())
        self._energy_lines(statements, premise_hours, pev_rows, enrollments)
        self._fixed_lines(statements, enrollments)
        self._adjustment_lines(statements)
        return list(statements.values())

    # --- reads -------------------------------------------------------------------------------------

    def _premise_hours(self, ids: list[int]) -> list[tuple]:
        from metering.models import PremiseRead

        return list(
            PremiseRead.objects.filter(
                premise_id__in=ids, interval_start__gte=self.start, interval_start__lt=self.end
            )
            .annotate(hour=TruncHour("interval_start", tzinfo=UTC))
            .values_list("premise_id", "hour")
            .annotate(wh=Sum("wh"))
            .order_by()
        )

    def _pev_hours(self, ids: list[int], enrollments: dict) -> list[tuple]:
        """(physical premise, billed enrollment, hour, wh) of bound PEV energy that counts as bound: at
        these premises, or billed to their enrollments from elsewhere (a guest who pays for itself)."""
        from binding.models import Binding
        from metering.models import LoadCorrelation, PevRead

        failed = LoadCorrelation.objects.filter(result=LoadCorrelation.Result.FAIL, cleared_at__isnull=True)
        elsewhere = Binding.objects.filter(
            billed_enrollment_id__in=list(enrollments),
            bound_at__isnull=False,
            plugged_in_at__lt=self.end,
        ).exclude(premise_id__in=ids)
        reads = PevRead.objects.filter(
            interval_start__gte=self.start, interval_start__lt=self.end, enrollment_id__isnull=False
        ).filter(Q(premise_id__in=ids) | Q(binding_id__in=elsewhere.values("pk")))
        return list(
            reads.exclude(binding_id__in=failed.values("binding_id"))
            .annotate(hour=TruncHour("interval_start", tzinfo=UTC))
            .values_list("premise_id", "enrollment_id", "hour")
            .annotate(wh=Sum("wh"))
            .order_by()
        )

    def _holds(self, ids: list[int], meters: dict[int, set[int]]) -> dict[int, Hold]:
        """Missing or conflicting data: the month cannot be billed as measured."""
        from metering.models import PremiseRead, ReadRevision

        seconds = self.end.timestamp() - self.start.timestamp()
        covered = dict(
            PremiseRead.objects.filter(
                premise_id__in=ids, interval_start__gte=self.start, interval_start__lt=self.end
            )
            .values_list("premise_id")
            .annotate(covered=Sum("interval_seconds"))
            .order_by()
        )
        # Open revisions on any meter whose reads this bill would use: the revenue meter and the EUMDs.
        open_revisions = dict(
            ReadRevision.objects.open()
            .filter(interval_start__gte=self.start, interval_start__lt=self.end)
            .filter(meter_id__in={m for premise_meters in meters.values() for m in premise_meters})
            .values_list("meter_id")
            .annotate(n=Count("pk"))
            .order_by()
        )
        holds = {}
        for pk in ids:
            have = covered.get(pk, 0)
            conflicts = sum(open_revisions.get(meter_id, 0) for meter_id in meters.get(pk, ()))
            if have < seconds:
                holds[pk] = Hold(
                    "missing revenue-meter data",
                    {"covered_seconds": int(have), "month_seconds": int(seconds)},
                )
            elif conflicts:
                holds[pk] = Hold("conflicting reads awaiting CSR review", {"open_revisions": conflicts})
        return holds

    def _meters(self, ids: list[int]) -> dict[int, set[int]]:
        """Per premise, the meters its bill uses: its revenue meter, its own EUMDs, and any EUMD whose
        reads were counted at the premise this month (a guest's, one inside a PEV)."""
        from metering.models import Meter, PevRead

        meters: dict[int, set[int]] = defaultdict(set)
        for premise_id, eumd_premise_id, meter_id in Meter.objects.filter(
            Q(premise_id__in=ids) | Q(eumd__premise_id__in=ids)
        ).values_list("premise_id", "eumd__premise_id", "pk"):
            meters[premise_id or eumd_premise_id].add(meter_id)
        for premise_id, meter_id in (
            PevRead.objects.filter(
                premise_id__in=ids, interval_start__gte=self.start, interval_start__lt=self.end
            )
            .values_list("premise_id", "meter_id")
            .distinct()
        ):
            meters[premise_id].add(meter_id)
        return meters

    # --- lines -------------------------------------------------------------------------------------

    def _hour(self, at: dt.datetime) -> int:
        return int((at - self.start).total_seconds() // 3600)

    def _energy_lines(self, statements: dict, premise_hours: list, pev_rows: list, enrollments: dict) -> None:
        # Net premise energy by (premise, hour): the meter's, minus bound PEV energy measured there.
        net: dict[int, np.ndarray] = {pk: np.zeros(self.prices.hours, dtype=np.int64) for pk in statements}
        for premise_id, hour, wh in premise_hours:
            net[premise_id][self._hour(hour)] += wh
        billed: dict[tuple, np.ndarray] = {}
        in_force = self._enrollments_in_force({row[1] for row in pev_rows})
        for premise_id, enrollment_id, hour, wh in pev_rows:
            if enrollment_id not in in_force:
                continue  # billed to no enrollment this month (it had ended): it stays premise energy
            index = self._hour(hour)
            if premise_id in net:
                net[premise_id][index] -= wh
            if enrollment_id in enrollments:
                tariff_id = _plan_tariff(enrollments[enrollment_id], hour)
                key = (enrollment_id, tariff_id)
                billed.setdefault(key, np.zeros(self.prices.hours, dtype=np.int64))[index] += wh
        for (enrollment_id, tariff_id), wh in billed.items():
            enrollment = enrollments[enrollment_id]
            statements[enrollment.premise_id].lines.extend(
                self._priced(BillLine.Kind.PEV_ENERGY, tariff_id, wh, enrollment_id=enrollment_id)
            )
        for premise_id, wh in net.items():
            tariff_id = self.premises[premise_id].default_tariff_id
            statements[premise_id].lines.extend(self._priced(BillLine.Kind.PREMISE_ENERGY, tariff_id, wh))

    def _enrollments_in_force(self, ids: set) -> set:
        from enrollment.models import Enrollment

        return set(
            Enrollment.objects.filter(pk__in=ids, effective_from__lt=self.end)
            .filter(Q(effective_to__isnull=True) | Q(effective_to__gt=self.start))
            .values_list("pk", flat=True)
        )

    def _priced(self, kind: str, tariff_id: int, wh: np.ndarray, enrollment_id=None) -> list[LineDraft]:
        """One line per price run (version, period, price) with energy in it."""
        keys = self.prices.of(tariff_id)
        used = wh != 0
        if not used.any():
            return []
        if (keys[used] < 0).any():
            raise RatingError(f"tariff {tariff_id} has no price for part of {self.period:%Y-%m}")
        wh_by_key = np.zeros(len(self.prices.runs), dtype=np.int64)
        np.add.at(wh_by_key, keys[used], wh[used])
        lines = []
        for key in np.unique(keys[used]).tolist():
            _, _, label, price = self.prices.runs[key]
            energy = int(wh_by_key[key])
            kwh = Decimal(energy) / KWH
            what = "PEV charging" if kind == BillLine.Kind.PEV_ENERGY else "Home energy"
            lines.append(
                LineDraft(
                    kind=kind,
                    description=f"{what}, {label}",
                    quantity=kwh,
                    unit="kWh",
                    unit_price=price,
                    amount_unrounded=kwh * price,
                    tariff_id=tariff_id,
                    enrollment_id=enrollment_id,
                    period_label=label,
                )
            )
        return lines

    def _fixed_lines(self, statements: dict, enrollments: dict) -> None:
        tariff_ids = {p.default_tariff_id for p in self.premises.values()}
        tariff_ids |= {e.plan.tariff_id for e in enrollments.values()}
        versions = _versions_by_day(tariff_ids, self.days)
        for premise_id, statement in statements.items():
            tariff_id = self.premises[premise_id].default_tariff_id
            days = versions[tariff_id]
            for version, count in _count(days).items():
                statement.lines.extend(_fixed_charge(version, count, self.days_in_month))
                statement.lines.extend(_credits(version, count, self.days_in_month, ev_submeter=False))
        for enrollment in enrollments.values():
            # The EV submeter credit, per day the enrollment was in force (prorated by days).
            plan_days = versions[enrollment.plan.tariff_id]
            days = [
                v
                for day, v in zip(self.days, plan_days, strict=True)
                if _in_force(enrollment, day, self.zone)
            ]
            for version, count in _count(days).items():
                statements[enrollment.premise_id].lines.extend(
                    _credits(version, count, self.days_in_month, ev_submeter=True, enrollment=enrollment)
                )
        for premise_id, statement in statements.items():
            days = versions[self.premises[premise_id].default_tariff_id]
            minimum = sum(
                (_per_day(v.minimum_charge, v.minimum_charge_unit, self.days_in_month) for v in days),
                Decimal(0),
            )
            if minimum and statement.total < minimum.quantize(CENT, rounding=ROUND_HALF_UP):
                shortfall = minimum - sum((line.amount_unrounded for line in statement.lines), Decimal(0))
                statement.lines.append(
                    LineDraft(
                        BillLine.Kind.MINIMUM_CHARGE, "Minimum charge", Decimal(1), "month", None, shortfall
                    )
                )

    def _adjustment_lines(self, statements: dict) -> None:
        from billing.models import Adjustment

        for adjustment in Adjustment.objects.filter(
            premise_id__in=list(statements), bill__isnull=True
        ).order_by("pk"):
            statements[adjustment.premise_id].lines.append(
                LineDraft(
                    BillLine.Kind.ADJUSTMENT,
                    f"Adjustment: {adjustment.reason}",
                    Decimal(1),
                    "each",
                    adjustment.amount,
                    adjustment.amount,
                    adjustment_id=adjustment.pk,
                )
            )


def _plan_tariff(enrollment, at: dt.datetime) -> int:
    for assignment in enrollment.plan_assignments.all():
        if assignment.effective_from <= at and (
            assignment.effective_to is None or at < assignment.effective_to
        ):
            return assignment.plan.tariff_id
    return enrollment.plan.tariff_id


def _in_force(enrollment, day: dt.date, zone) -> bool:
    start = dt.datetime.combine(day, dt.time(), zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone)
    return enrollment.effective_from < end and (
        enrollment.effective_to is None or enrollment.effective_to > start
    )


def _versions_by_day(tariff_ids: set[int], days: list[dt.date]) -> dict[int, list[TariffVersion]]:
    versions = defaultdict(list)
    for version in (
        TariffVersion.objects.filter(tariff_id__in=tariff_ids, effective_start__lte=days[-1])
        .filter(Q(effective_end__isnull=True) | Q(effective_end__gt=days[0]))
        .prefetch_related("credits")
    ):
        versions[version.tariff_id].append(version)
    by_day = {}
    for tariff_id in tariff_ids:
        in_force = []
        for day in days:
            matching = [
                v
                for v in versions[tariff_id]
                if v.effective_start <= day and (v.effective_end is None or day < v.effective_end)
            ]
            if not matching:
                raise RatingError(f"tariff {tariff_id} has no version in force on {day}")
            in_force.append(matching[0])
        by_day[tariff_id] = in_force
    return by_day


def _count(versions: list[TariffVersion]) -> dict[TariffVersion, int]:
    counts: dict[TariffVersion, int] = {}
    for version in versions:
        counts[version] = counts.get(version, 0) + 1
    return counts


def _per_day(amount: Decimal, unit: str, days_in_month: int) -> Decimal:
    return amount if unit == ChargeUnit.PER_DAY else amount / days_in_month


def _fixed_charge(version: TariffVersion, days: int, days_in_month: int) -> list[LineDraft]:
    if not version.fixed_charge:
        return []
    per_day = version.fixed_charge_unit == ChargeUnit.PER_DAY
    quantity = Decimal(days) if per_day else Decimal(days) / days_in_month
    return [
        LineDraft(
            BillLine.Kind.FIXED_CHARGE,
            "Basic charge" if per_day else "Basic charge (monthly, by days)",
            quantity,
            "day" if per_day else "month",
            version.fixed_charge,
            quantity * version.fixed_charge,
            tariff_id=version.tariff_id,
        )
    ]


def _credits(
    version, days: int, days_in_month: int, *, ev_submeter: bool, enrollment=None
) -> list[LineDraft]:
    """The premise's own credits (ev_submeter False), or a PEV plan's EV submeter credits (True)."""
    lines = []
    for credit in version.credits.all():
        if (credit.applies_to == CreditApplies.EV_SUBMETER) != ev_submeter:
            continue
        per_day = credit.unit == ChargeUnit.PER_DAY
        quantity = Decimal(days) if per_day else Decimal(days) / days_in_month
        lines.append(
            LineDraft(
                BillLine.Kind.CREDIT,
                credit.name,
                quantity,
                "day" if per_day else "month",
                -credit.amount,
                -(quantity * credit.amount),
                tariff_id=version.tariff_id,
                enrollment_id=enrollment.pk if enrollment else None,
            )
        )
    return lines
