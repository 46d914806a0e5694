"""The PEV's charging status as its ESCI reports it (S4; Req 17, 24: the Customer Energy Management System).

`record_status` keeps the latest report of a binding in `PevStatus` and prices its energy increment at the
TOU price in force when it was reported, under the tariff the session is billed under: a bound session's
billed enrollment's plan, anything else (declined, timed out, a handshake still running) the premise's
default tariff — charging proceeds at the default rate (Req 7, 10; BR.4, BR.6). The live panel shows the
result (binding/live.py); the bill rates the EUMD's interval reads, so the panel's cost is an estimate.
"""

import dataclasses
import datetime as dt
import time
import uuid
from decimal import Decimal

import structlog
from django.db import transaction

from billing.models import Tariff
from billing.schedule import ScheduleError, price_segments
from pevportal.prepared import InsertRows, SelectRelated

from . import live
from .clock import utc_second
from .handshake import FUTURE_TOLERANCE, BindingNotFound, Conflict, InvalidRequest
from .models import Binding, Device, PevStatus

log = structlog.get_logger(__name__)

KWH = Decimal(1000)
PRICE_CACHE_SECONDS = 60.0
PRICE_CACHE_MAX = 10_000

_prices: dict[tuple, tuple[float, tuple[Decimal, str] | None]] = {}


@dataclasses.dataclass(frozen=True)
class StatusReport:
    """One `POST /device/v1/pev-status` body, validated."""

    binding_id: uuid.UUID
    reported_at: dt.datetime
    charging_state: str
    state_of_charge: Decimal
    power_w: int
    time_to_complete_s: int | None
    session_energy_wh: int


def record_status(report: StatusReport, *, esci: Device, now: dt.datetime) -> PevStatus:
    """Store the report if it is newer than the stored one and publish the panel; an older or equal
    `reported_at` (a retry, or a report overtaken in the network) changes nothing. Another device's
    binding is not found; a session that is over is a conflict."""
    with transaction.atomic():
        # The binding's row lock serialises concurrent reports of one session (and its unplug). The status is
        # read after the lock, in a statement of its own: joined into the locking query it would come from
        # that statement's snapshot, and a report that waited for the lock would not see the row the one
        # before it inserted (a duplicate key, HTTP 500). So the status never goes backwards and no
        # increment is priced twice. The panel's relations come along (live.publish_status needs no query).
        binding = _BINDING.get(report.binding_id, esci.pk)
        if binding is None:
            raise BindingNotFound("no such binding for this device")
        if live.session_over(binding, now):
            raise Conflict(f"binding {binding.pk} is over: the PEV was unplugged or the session closed")
        # A reading stamped ahead of the server clock would hide every later report until then.
        if not binding.plugged_in_at <= report.reported_at <= now + FUTURE_TOLERANCE:
            raise InvalidRequest(
                f"reported_at must lie between plugged_in_at ({utc_second(binding.plugged_in_at)}) and now "
                f"(server time {utc_second(now)})"
            )
        current = _STATUS.get(binding.pk)
        if current is not None and report.reported_at <= current.reported_at:
            return current
        status = _next_status(binding, current, report, now)
        _STORE_STATUS.insert([status])
        live.publish_status(binding, now=now)
    return status


def price_in_force(tariff: Tariff, at: dt.datetime) -> tuple[Decimal, str] | None:
    """($/kWh, period label) of `tariff` at instant `at`, or None when it has no price then.

    Tariffs change price only on their local hour, so each process keeps one answer per tariff and local
    hour for PRICE_CACHE_SECONDS: the six queries of `price_segments` are paid about once a minute per
    tariff, and a new tariff version reaches the live panel within a minute.
    """
    local = at.astimezone(tariff.zone)
    hour = local.replace(minute=0, second=0, microsecond=0).astimezone(dt.UTC)
    key = (tariff.pk, tariff.code, tariff.time_zone, hour)
    cached = _prices.get(key)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    try:
        segment = price_segments(tariff, hour, hour + dt.timedelta(hours=1))[0]
        price = (segment.price, segment.period_label)
    except ScheduleError:
        price = None
    if len(_prices) >= PRICE_CACHE_MAX:
        _prices.clear()
    _prices[key] = (time.monotonic() + PRICE_CACHE_SECONDS, price)
    return price


def forget_cached_prices() -> None:
    """Drop this process's cached prices (tests that rebuild tariffs)."""
    _prices.clear()


def billing_tariff(binding: Binding) -> Tariff:
    """The tariff the session's energy is billed under now: the billed enrollment's plan once bound, else
    the premise's default tariff."""
    if binding.bound_at is not None and binding.billed_enrollment is not None:
        return binding.billed_enrollment.plan.tariff
    return binding.premise.default_tariff


# --- Reading and storing, as prepared statements -------------------------------------------------------
# Every report of every session runs them (100 a second in bench-live): the ORM compiling this eight-way
# select_related, and PostgreSQL planning it, cost more than running it (pevportal/prepared.py).

_BINDING = SelectRelated(
    Binding,
    *live.PANEL_RELATIONS,
    "billed_enrollment__plan__tariff",
    by=["id", "esci"],
    lock=True,
    # The creation response and the PEV's key are large and never read here.
    defer=("response", "pev_public_jwk"),
)
_STATUS = SelectRelated(PevStatus, by=["binding"])
_STORE_STATUS = InsertRows(PevStatus, replace=True)


def _next_status(binding: Binding, current: PevStatus | None, report: StatusReport, now) -> PevStatus:
    priced = price_in_force(billing_tariff(binding), report.reported_at)
    price, label = priced if priced is not None else (None, "")
    cost = current.cost_so_far if current is not None else Decimal(0)
    # The ESCI's session counter only grows; if it went down the charger restarted its count, and what it
    # shows now is new energy.
    before = current.session_energy_wh if current is not None else 0
    increment = report.session_energy_wh - before
    if increment < 0:
        increment = report.session_energy_wh
    if price is not None:
        cost += Decimal(increment) / KWH * price
    elif increment:
        log.warning("pev_status.unpriced", binding=str(binding.pk), at=report.reported_at.isoformat())
    return PevStatus(
        binding=binding,
        reported_at=report.reported_at,
        received_at=now,
        charging_state=report.charging_state,
        state_of_charge=report.state_of_charge,
        power_w=report.power_w,
        time_to_complete_s=report.time_to_complete_s,
        session_energy_wh=report.session_energy_wh,
        cost_so_far=cost,
        price_per_kwh=price,
        period_label=label,
    )
