"""What a customer sees of their energy (issue 7; docs/customer.md): a premise's usage by day and by TOU
period from the usage rollups, their charging sessions with energy and cost, and the dashboard summary.

Every function is given the customer's accounts (`UtilityAccount.objects.for_user`) or a premise found
through them, and reads set-based: one grouped query per chart, per page of sessions or per summary —
never one per day, per read or per session. Days are local days of the tariff (as the rollups are).
"""

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.core.paginator import Page, Paginator
from django.db.models import (
    Case,
    CharField,
    DateTimeField,
    DecimalField,
    DurationField,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import TruncHour
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.models import DEFAULT_TIME_ZONE as DEFAULT_ZONE
from metering.models import PevRead, UsageRollup, UsageSource

UTC = dt.UTC
KWH = Decimal(1000)
CENT = Decimal("0.01")
MONTHS_SHOWN = 13  # this month and the 12 before it
SESSIONS_PER_PAGE = 20
# No read is longer than an hour (docs/metering.md), so a read overlapping a plug-in starts within the hour
# before it: the bound that lets PostgreSQL prune the daily partitions of a session's reads.
LONGEST_READ = dt.timedelta(hours=1)


def kwh(wh: int) -> Decimal:
    """Watt-hours as kWh, exactly (3 places)."""
    return (Decimal(wh) / KWH).quantize(Decimal("0.001"))


def account_ids(accounts) -> QuerySet | list[int]:
    """The accounts' ids as a subquery (a QuerySet, e.g. `for_user`) or a list (account objects)."""
    if isinstance(accounts, QuerySet):
        return accounts.order_by().values("pk")
    return [account.pk for account in accounts]


def local_today(zone, now: dt.datetime | None = None) -> dt.date:
    return (now or timezone.now()).astimezone(zone).date()


def recent_months(today: dt.date) -> list[dt.date]:
    """The first days of this month and the MONTHS_SHOWN - 1 before it, newest first."""
    months, month = [], today.replace(day=1)
    for _count in range(MONTHS_SHOWN):
        months.append(month)
        month = (month - dt.timedelta(days=1)).replace(day=1)
    return months


def month_end(month: dt.date) -> dt.date:
    """The last day of the month."""
    return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)


# --- A premise's month ---------------------------------------------------------------------------------


@dataclass
class DayUsage:
    """One local day: the revenue meter's energy and the PEV energy measured at the premise (BR.8: the PEV is
    a submeter of the premise, so the rest of the home is the difference)."""

    day: dt.date
    premise_wh: int = 0
    pev_plan_wh: int = 0  # bound sessions, billed at an EV plan
    pev_default_wh: int = 0  # unbound charging, at the home's regular rate (BR.4, BR.6)

    @property
    def pev_wh(self) -> int:
        return self.pev_plan_wh + self.pev_default_wh

    @property
    def rest_wh(self) -> int:
        """The rest of the home; never below zero (a day the revenue meter's reads are incomplete)."""
        return max(self.premise_wh - self.pev_wh, 0)

    # kWh for the pages' tables, exact.
    premise_kwh = property(lambda self: kwh(self.premise_wh))
    pev_plan_kwh = property(lambda self: kwh(self.pev_plan_wh))
    pev_default_kwh = property(lambda self: kwh(self.pev_default_wh))
    pev_kwh = property(lambda self: kwh(self.pev_wh))
    rest_kwh = property(lambda self: kwh(self.rest_wh))


@dataclass
class PeriodUsage:
    """Energy in one TOU period of one tariff (the rollups' classification)."""

    label: str
    tariff_code: str
    plan: bool = False  # PEV energy billed at an EV plan (False: the home's rate, or the revenue meter)
    wh: int = 0

    @property
    def kwh(self) -> Decimal:
        return kwh(self.wh)


@dataclass
class MonthUsage:
    month: dt.date
    last_day: dt.date  # the month's last day, or today for this month
    days: list[DayUsage]
    home_periods: list[PeriodUsage]  # the whole premise, by the default tariff's periods
    pev_periods: list[PeriodUsage]  # PEV charging, by the tariff it is billed under

    @property
    def totals(self) -> DayUsage:
        total = DayUsage(self.month)
        for day in self.days:
            total.premise_wh += day.premise_wh
            total.pev_plan_wh += day.pev_plan_wh
            total.pev_default_wh += day.pev_default_wh
        return total

    @property
    def rest_wh(self) -> int:
        """The sum of the days' rest (each never below zero)."""
        return sum(day.rest_wh for day in self.days)

    @property
    def rest_kwh(self) -> Decimal:
        return kwh(self.rest_wh)

    @property
    def has_data(self) -> bool:
        return any(day.premise_wh or day.pev_wh for day in self.days)


def month_usage(premise, month: dt.date, today: dt.date) -> MonthUsage:
    """A premise's usage in a month (up to today), by day and by TOU period: one grouped query."""
    month = month.replace(day=1)
    last_day = min(month_end(month), today)
    rows = (
        UsageRollup.objects.filter(premise=premise, day__gte=month, day__lte=last_day)
        .values_list("day", "source", "tariff__code", "period_index", "period_label")
        .annotate(wh=Sum("wh"), plan=_bound_flag())
        .order_by()
    )
    days = {month + dt.timedelta(days=n): DayUsage(month + dt.timedelta(days=n)) for n in range(last_day.day)}
    periods: dict[tuple, PeriodUsage] = {}
    for day, source, tariff_code, period_index, label, wh, plan in rows:
        usage = days[day]
        if source == UsageSource.PREMISE:
            usage.premise_wh += wh
        elif plan:
            usage.pev_plan_wh += wh
        else:
            usage.pev_default_wh += wh
        key = (source, not plan, tariff_code, period_index)
        periods.setdefault(key, PeriodUsage(label, tariff_code, bool(plan))).wh += wh
    keys = sorted(periods)  # by source, plan first, tariff and period index: the rate sheet's order
    return MonthUsage(
        month,
        last_day,
        list(days.values()),
        [periods[key] for key in keys if key[0] == UsageSource.PREMISE],
        [periods[key] for key in keys if key[0] == UsageSource.PEV],
    )


def _bound_flag():
    """Grouped with the rows: whether the PEV energy is billed to an enrollment (at an EV plan)."""
    return Case(When(enrollment__isnull=False, then=Value("1")), default=Value(""), output_field=CharField())


@dataclass
class MonthTotal:
    month: dt.date
    premise_wh: int = 0
    pev_wh: int = 0
    rest_wh: int = 0  # the sum of the days' rest, as on the month's page

    premise_kwh = property(lambda self: kwh(self.premise_wh))
    pev_kwh = property(lambda self: kwh(self.pev_wh))
    rest_kwh = property(lambda self: kwh(self.rest_wh))


def monthly_totals(premise, months: list[dt.date]) -> list[MonthTotal]:
    """The premise's and the PEVs' energy in each of these months (oldest first): one grouped query (a
    row per day and source: ~800 for 13 months)."""
    first, last = min(months), month_end(max(months))
    totals = {month: MonthTotal(month) for month in sorted(months)}
    days: dict[dt.date, DayUsage] = {}
    rows = (
        UsageRollup.objects.filter(premise=premise, day__gte=first, day__lte=last)
        .values_list("day", "source")
        .annotate(wh=Sum("wh"))
        .order_by()
    )
    for day, source, wh in rows:
        usage = days.setdefault(day, DayUsage(day))
        if source == UsageSource.PREMISE:
            usage.premise_wh += wh
        else:
            usage.pev_plan_wh += wh
    for day, usage in days.items():
        total = totals[day.replace(day=1)]
        total.premise_wh += usage.premise_wh
        total.pev_wh += usage.pev_wh
        total.rest_wh += usage.rest_wh
    return list(totals.values())


# --- Charging sessions ------------------------------------------------------------------------------


class SessionKind:
    BOUND = "bound"  # billed at an EV plan
    GUEST = "guest"  # a guest's session: at the customer's premise, or theirs at another premise
    DEFAULT = "default"  # at the home's regular rate (not bound, timed out, or the load check failed)


@dataclass
class Session:
    binding: object
    start: dt.datetime  # local
    end: dt.datetime | None  # local; None while plugged in (or never reported)
    at_home: bool
    where: str  # the customer's premise address; empty for another premise (not theirs to know)
    own_vehicle: bool
    vehicle: str
    kind: str
    billed_to_customer: bool
    counts_as_bound: bool
    live: bool
    wh: int = 0
    cost: Decimal | None = None  # energy at the price it is billed at, when it is on the customer's bill

    @property
    def kwh(self) -> Decimal:
        return kwh(self.wh)

    @property
    def how_billed(self) -> str:
        if self.kind == SessionKind.BOUND:
            return _("Your EV plan")
        if self.kind == SessionKind.GUEST:
            if self.at_home:
                return (
                    _("Guest, billed to you at your EV plan")
                    if self.billed_to_customer
                    else _("Guest, billed to the guest's own account")
                )
            return (
                _("As a guest, billed to you at your EV plan")
                if self.billed_to_customer
                else _("As a guest, billed to the host")
            )
        if self.binding.bound_at is not None:
            return _("Your home's regular price (the home meter did not confirm this session)")
        if self.live:
            return _("Connecting…")
        return _("Your home's regular price (the vehicle was not recognised)")


def session_page(
    accounts, page_number, *, now: dt.datetime | None = None, per_page=SESSIONS_PER_PAGE
) -> Page:
    """A page of the charging sessions the customer may see, newest first, each with its energy and cost.

    Sessions: plug-ins at the customer's premises (their PEVs and guests) and their PEVs' sessions bound
    elsewhere (as guests). A fixed number of queries per page: the customer's accounts and PEVs, the count,
    the page with its premises, plans and load checks, one grouped query of the page's reads, and the
    tariffs' price schedules (billing.session_costs).
    """
    from binding.models import Binding
    from enrollment.models import Enrollment, PlanAssignment

    now = now or timezone.now()
    ids = (
        set(accounts.values_list("pk", flat=True))
        if isinstance(accounts, QuerySet)
        else set(account_ids(accounts))
    )
    own_enrollments = Enrollment.objects.filter(account_id__in=ids)
    own_pevs = set(own_enrollments.values_list("pev_id", flat=True))
    bindings = (
        Binding.objects.filter(
            Q(premise__account_id__in=ids)
            | Q(billed_enrollment_id__in=own_enrollments.values("pk"))
            | Q(enrollment_id__in=own_enrollments.values("pk"))
        )
        .select_related(
            "premise__default_tariff", "pev", "billed_enrollment__plan", "correlation", "eumd__meter"
        )
        .prefetch_related(
            Prefetch(
                "billed_enrollment__plan_assignments", queryset=PlanAssignment.objects.select_related("plan")
            )
        )
        .order_by("-plugged_in_at", "pk")
    )
    page = Paginator(bindings, per_page).get_page(page_number)
    sessions = [_session(binding, ids, own_pevs, now) for binding in page.object_list]
    _add_energy_and_cost(sessions, now)
    page.object_list = sessions
    return page


def _session(binding, account_ids_: set, own_pevs: set, now: dt.datetime) -> Session:
    from binding.models import Binding

    zone = binding.premise.default_tariff.zone
    at_home = binding.premise.account_id in account_ids_
    billed = binding.billed_enrollment
    state = binding.effective_state(now)
    correlation = getattr(binding, "correlation", None)
    counts_as_bound = bool(
        binding.bound_at and billed is not None and (correlation is None or correlation.counts_as_bound)
    )
    own_vehicle = binding.pev_id is not None and binding.pev_id in own_pevs
    if counts_as_bound and (binding.kind == Binding.Kind.GUEST or not at_home):
        kind = SessionKind.GUEST
    elif counts_as_bound:
        kind = SessionKind.BOUND
    else:
        kind = SessionKind.DEFAULT
    # A session is on the customer's bill when billed to their enrollment, or at their home at its rate.
    billed_to_customer = billed.account_id in account_ids_ if counts_as_bound else at_home
    end = binding.unplugged_at
    if end is None and state in (Binding.State.ENDED, Binding.State.SUPERSEDED, Binding.State.CLOSED):
        end = binding.finished_at or binding.ended_by_time_at(state)
    return Session(
        binding=binding,
        start=binding.plugged_in_at.astimezone(zone),
        end=end.astimezone(zone) if end else None,
        at_home=at_home,
        where=binding.premise.service_address if at_home else "",
        own_vehicle=own_vehicle,
        vehicle=binding.pev.description if own_vehicle else "",
        kind=kind,
        billed_to_customer=billed_to_customer,
        counts_as_bound=counts_as_bound,
        live=state in Binding.LIVE_STATES,
    )


def _reads_until(binding, now: dt.datetime) -> dt.datetime:
    """Where a session's reads may end: its unplug, else 24 h after plug-in (docs/metering.md)."""
    from binding.models import max_duration

    end = binding.unplugged_at or binding.plugged_in_at + max_duration()
    return min(end, now) if binding.unplugged_at is None else end


def _add_energy_and_cost(sessions: list[Session], now: dt.datetime) -> None:
    """Each session's energy from the EUMD reads attributed to it (a bound session) or, for a session that
    was not bound, its EUMD's unattributed reads overlapping the plug-in; priced per hour as billing does."""
    from billing.session_costs import energy_costs

    windows = []
    for session in sessions:
        binding = session.binding
        meter = getattr(binding.eumd, "meter", None) if binding.eumd_id else None
        if meter is None:
            continue
        start, end = binding.plugged_in_at, _reads_until(binding, now)
        if end <= start - LONGEST_READ:
            continue
        window = Q(meter_id=meter.pk, interval_start__gt=start - LONGEST_READ, interval_start__lt=end)
        if binding.bound_at is not None:
            window &= Q(binding_id=binding.pk)
        else:
            window &= Q(binding_id__isnull=True, interval_end__gt=start)
        windows.append((str(binding.pk), start - LONGEST_READ, end, window))
    if not windows:
        return
    reads = (
        PevRead.objects.alias(
            interval_end=ExpressionWrapper(
                F("interval_start")
                + ExpressionWrapper(
                    ExpressionWrapper(F("interval_seconds"), output_field=IntegerField())
                    * Value(dt.timedelta(seconds=1)),
                    output_field=DurationField(),
                ),
                output_field=DateTimeField(),
            )
        )
        .filter(interval_start__gt=min(w[1] for w in windows), interval_start__lt=max(w[2] for w in windows))
        .filter(_any(w[3] for w in windows))
        .annotate(
            session=Case(*(When(w[3], then=Value(w[0])) for w in windows), output_field=CharField()),
            hour=TruncHour("interval_start", tzinfo=UTC),
        )
        .values_list("session", "hour")
        .annotate(wh=Sum("wh"))
        .order_by()
    )
    by_id = {str(session.binding.pk): session for session in sessions}
    priced = []
    for session_id, hour, wh in reads:
        session = by_id[session_id]
        session.wh += wh
        if session.billed_to_customer:
            priced.append((session_id, _tariff_at(session, hour), hour, wh))
    for session_id, cost in energy_costs(priced).items():
        by_id[session_id].cost = cost


def _any(conditions) -> Q:
    combined = Q()
    for condition in conditions:
        combined |= condition
    return combined


def _tariff_at(session: Session, hour: dt.datetime) -> int:
    """The tariff an hour of the session is billed under: the billed enrollment's plan in force then, or
    the premise's default rate (not bound, or the load check failed and was not cleared)."""
    binding = session.binding
    if not session.counts_as_bound:
        return binding.premise.default_tariff_id
    enrollment = binding.billed_enrollment
    for assignment in enrollment.plan_assignments.all():
        if assignment.effective_from <= hour and (
            assignment.effective_to is None or hour < assignment.effective_to
        ):
            return assignment.plan.tariff_id
    return enrollment.plan.tariff_id


# --- The dashboard ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DashboardSummary:
    """Small data for the dashboard: this month's PEV charging so far and the last bill."""

    month: dt.date
    pev_plan_kwh: Decimal  # billed to the customer's enrollments at their EV plans
    pev_default_kwh: Decimal  # unbound charging at their premises, at the home's regular rate
    estimated_cost: Decimal | None  # the energy of both at the period prices; None when none could be priced
    unpriced_kwh: Decimal  # energy the tariffs have no price for (left out of the estimate)
    last_bill: object | None  # billing.models.Bill with its premise

    @property
    def pev_kwh(self) -> Decimal:
        return self.pev_plan_kwh + self.pev_default_kwh

    @property
    def last_bill_zone(self) -> str:
        """The last bill's dates are shown in its premise's time zone."""
        return self.last_bill.premise.default_tariff.time_zone if self.last_bill else DEFAULT_ZONE


def dashboard_summary(accounts, *, now: dt.datetime | None = None) -> DashboardSummary:
    """Month-to-date PEV energy and its estimated cost, and the last bill, of these accounts: two queries
    whatever the data volume (the rollups of ~a month with their period prices; the latest bill).

    The estimate prices each rollup (day, TOU period) at the first tier of the period of the tariff version
    in force that day — critical-peak adders, fixed charges and credits are not in it; the bill is exact.
    """
    from billing.models import Bill, Tier
    from enrollment.models import Enrollment, Premise

    now = now or timezone.now()
    ids = account_ids(accounts)
    # Local "this month" differs by zone by at most a day around midnight: take from the earliest first
    # of the month any zone can be in, and keep each row's own zone's month below.
    earliest = (now - dt.timedelta(days=1)).date().replace(day=1)
    money = DecimalField(max_digits=12, decimal_places=5)
    # $/kWh of the rollup's period: rate + adjustment of the first tier of the version in force that day.
    # (On SQLite the sum is a float, which the 5-place output field quantizes back to the exact price.)
    price = (
        Tier.objects.filter(
            number=1,
            period__index=OuterRef("period_index"),
            period__version__tariff_id=OuterRef("tariff_id"),
            period__version__effective_start__lte=OuterRef("day"),
        )
        .filter(
            Q(period__version__effective_end__isnull=True)
            | Q(period__version__effective_end__gt=OuterRef("day"))
        )
        .order_by()
        .values(price=ExpressionWrapper(F("rate") + F("adjustment"), output_field=money))[:1]
    )
    rows = (
        UsageRollup.objects.filter(source=UsageSource.PEV, day__gte=earliest)
        .filter(
            Q(enrollment_id__in=Enrollment.objects.filter(account_id__in=ids).values("pk"))
            | Q(
                enrollment__isnull=True,
                premise_id__in=Premise.objects.filter(account_id__in=ids).values("pk"),
            )
        )
        .values_list("tariff__time_zone", "day", "tariff_id", "period_index")
        .annotate(
            wh=Sum("wh"),
            plan=_bound_flag(),
            price=Subquery(price, output_field=money),
        )
        .order_by()
    )
    plan_wh = default_wh = unpriced_wh = 0
    cost = Decimal(0)
    months = {}
    for zone_name, day, _tariff, _period, wh, plan, price_per_kwh in rows:
        if zone_name not in months:
            months[zone_name] = now.astimezone(_zone(zone_name)).date().replace(day=1)
        if day < months[zone_name]:
            continue
        if plan:
            plan_wh += wh
        else:
            default_wh += wh
        if price_per_kwh is None:
            unpriced_wh += wh
        else:
            cost += Decimal(wh) / KWH * price_per_kwh
    priced = plan_wh + default_wh - unpriced_wh
    last_bill = (
        Bill.objects.filter(account_id__in=ids)
        .select_related("premise__default_tariff")  # last_bill_zone
        .order_by("-issued_at", "-pk")
        .first()
    )
    month = max(months.values()) if months else now.astimezone(_zone(DEFAULT_ZONE)).date().replace(day=1)
    return DashboardSummary(
        month=month,
        pev_plan_kwh=kwh(plan_wh),
        pev_default_kwh=kwh(default_wh),
        estimated_cost=cost.quantize(CENT, rounding=ROUND_HALF_UP) if priced else None,
        unpriced_kwh=kwh(unpriced_wh),
        last_bill=last_bill,
    )


def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)
