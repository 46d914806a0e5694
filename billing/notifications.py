"""Telling customers about billing (issue 7; docs/notifications.md): a bill is ready, and a critical-peak
event is coming on a tariff they are billed under (their premise's default tariff or their EV plan's).

Each is a `pevportal.notifications.Notice`; the bill's id, or the tariff, day and account, is its dedupe key,
so a billing chunk redone after a worker died or an hourly run that finds the same event tells no one twice.
"""

import datetime as dt
import zoneinfo
from collections.abc import Iterable

from django.db import transaction
from django.db.models import F, Q

from billing.models import Bill, CriticalPeakDay
from billing.presentation import dollars
from pevportal.models import Notification
from pevportal.notifications import Notice, notify

# From this local hour customers hear of tomorrow's events; before it, only of today's not yet started (an
# event called late in the evening), so that no one is emailed at midnight about the day after.
TOMORROW_FROM_HOUR = 8


def bills_issued(bills: Iterable[Bill]) -> None:
    """The bills are final: each account hears that its bill is ready. Call inside the transaction issuing
    them (a billing chunk's bills at once: two statements however many)."""
    from enrollment.models import Premise

    bills = list(bills)
    if not bills:
        return
    premises = Premise.objects.filter(pk__in={bill.premise_id for bill in bills})
    where = {
        pk: (address, zone)
        for pk, address, zone in premises.values_list("pk", "service_address", "default_tariff__time_zone")
    }
    notify(
        Notice(
            kind=Notification.Kind.BILL_READY,
            dedupe_key=f"bill:{bill.pk}",
            account_id=bill.account_id,
            params={
                "bill_id": bill.pk,
                "period_on": bill.period,
                "total": bill.total,
                "estimated": bill.estimated,
                "address": where[bill.premise_id][0],
                "time_zone": where[bill.premise_id][1],
            },
        )
        for bill in bills
    )


def notify_critical_peaks(now: dt.datetime) -> int:
    """Hourly (beat): tell each account billed under a tariff with a critical-peak event tomorrow in its
    premise's local date (or today, if the event has not started) once per tariff, day and account.
    Returns how many notices were offered; those already sent are skipped by their dedupe keys."""
    from enrollment.models import Premise

    zones = Premise.objects.order_by().values_list("default_tariff__time_zone", flat=True).distinct()
    days = {zone: _notice_days(now, zoneinfo.ZoneInfo(zone)) for zone in zones}
    events = (
        CriticalPeakDay.objects.filter(date__in=set().union(*days.values()))
        # Only a version in force that day, with an adder and hours, prices the event.
        .filter(version__effective_start__lte=F("date"))
        .filter(Q(version__effective_end__isnull=True) | Q(version__effective_end__gt=F("date")))
        .filter(version__critical_peak_adder__isnull=False, version__critical_peak_start_hour__isnull=False)
        .select_related("version__tariff")
        .order_by("date", "version__tariff__code")
    )
    offered = 0
    for event in events:
        starts_at, ends_at = _event_span(event)
        if starts_at <= now:
            continue
        for zone, zone_days in days.items():
            if event.date not in zone_days:
                continue
            tariff = event.version.tariff
            params = {
                "tariff_name": tariff.name,
                "event_on": event.date,
                "starts_at": starts_at,
                "ends_at": ends_at,
                "adder": dollars(event.version.critical_peak_adder),
                "time_zone": zone,
            }
            accounts = _accounts_billed_under(tariff.pk, zone)
            with transaction.atomic():
                notify(
                    Notice(
                        kind=Notification.Kind.CRITICAL_PEAK,
                        dedupe_key=f"cpp:{tariff.code}:{event.date.isoformat()}:{account_id}",
                        account_id=account_id,
                        params=params,
                    )
                    for account_id in accounts
                )
            offered += len(accounts)
    return offered


def _notice_days(now: dt.datetime, zone: zoneinfo.ZoneInfo) -> set[dt.date]:
    local = now.astimezone(zone)
    today = local.date()
    return {today, today + dt.timedelta(days=1)} if local.hour >= TOMORROW_FROM_HOUR else {today}


def _event_span(event: CriticalPeakDay) -> tuple[dt.datetime, dt.datetime]:
    """The event's hours as UTC instants: they are local hours of its tariff's zone, on local wall clocks
    (on a DST change day the instants move, the hours do not)."""
    version, zone = event.version, event.version.tariff.zone
    return (
        _instant(event.date, version.critical_peak_start_hour, zone),
        _instant(event.date, version.critical_peak_end_hour, zone),
    )


def _instant(day: dt.date, hour: int, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """`hour` o'clock local on `day` (24 is the next midnight) as a UTC instant."""
    local = dt.datetime.combine(day + dt.timedelta(days=hour // 24), dt.time(hour % 24), zone)
    return local.astimezone(dt.UTC)


def _accounts_billed_under(tariff_id: int, zone: str) -> list[int]:
    """Accounts with a premise in `zone` whose default tariff this is, or with a PEV enrolled (and not
    suspended) at such a premise in a plan billed under it."""
    from enrollment.models import Enrollment, Premise

    premises = Premise.objects.filter(default_tariff__time_zone=zone, default_tariff_id=tariff_id)
    enrollments = (
        Enrollment.objects.current()
        .exclude(status=Enrollment.Status.SUSPENDED)
        .filter(premise__default_tariff__time_zone=zone, plan__tariff_id=tariff_id)
    )
    return sorted(
        set(premises.values_list("account_id", flat=True))
        | set(enrollments.values_list("account_id", flat=True))
    )
