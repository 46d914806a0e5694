"""The programme parameters a PEV and its EUMD receive (Req 18, 23, 26): plan, prices, interval length.

`parameters_version` names one set of parameters: it changes when the plan or a tariff version in force over
the next week changes, which is what sends a PEV new parameters (binding/messages.py).
"""

import datetime as dt
import hashlib
import json
import time

from django.db.models import Q

from billing.models import TariffVersion
from billing.schedule import ScheduleError, price_segments
from enrollment.models import ServicePlan

from .clock import utc_second
from .models import Device

HORIZON = dt.timedelta(days=7)
VERSION_CACHE_SECONDS = 60.0
_versions: dict[tuple, tuple[float, str]] = {}


def interval_seconds(plan: ServicePlan, eumd: Device | None) -> int:
    """The EUMD's interval length: a CSR's change (Req 25) wins over the plan's default."""
    if eumd is not None and eumd.interval_seconds:
        return eumd.interval_seconds
    return plan.eumd_interval_seconds


def parameters_version(plan: ServicePlan, at: dt.datetime) -> str:
    """A short fingerprint of the plan, its interval length and the tariff versions in force this week.

    An EUMD's own interval (a CSR's change) is not part of it: that travels as an interval-change message.
    Each process keeps an answer for VERSION_CACHE_SECONDS: every re-binding needs it, and a new tariff
    version reaching new bindings within a minute is soon enough (PEVs get it by message within the hour).
    """
    zone = plan.tariff.zone
    first_day = at.astimezone(zone).date()
    key = (plan.pk, plan.code, plan.program_id, plan.tariff_id, plan.eumd_interval_seconds, first_day)
    cached = _versions.get(key)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    version = _fingerprint(plan, first_day, (at + HORIZON).astimezone(zone).date())
    _versions[key] = (time.monotonic() + VERSION_CACHE_SECONDS, version)
    return version


def forget_cached_versions() -> None:
    """Drop this process's cached versions (tests that rewrite tariffs under the same plan)."""
    _versions.clear()


def _fingerprint(plan: ServicePlan, first_day: dt.date, last_day: dt.date) -> str:
    versions = list(
        TariffVersion.objects.filter(tariff_id=plan.tariff_id, effective_start__lte=last_day)
        .filter(Q(effective_end__isnull=True) | Q(effective_end__gt=first_day))
        .order_by("effective_start")
        .values_list("content_sha256", flat=True)
    )
    material = json.dumps([plan.program_id, plan.code, plan.tariff_id, plan.eumd_interval_seconds, versions])
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def price_schedule(plan: ServicePlan, at: dt.datetime) -> list[dict]:
    """The plan's prices for the next 7 days as UTC runs of one price (a handful a day)."""
    start = at.replace(minute=0, second=0, microsecond=0)
    try:
        segments = price_segments(plan.tariff, start, start + HORIZON)
    except ScheduleError:
        # A tariff without a version next week still commissions; the PEV gets prices by message later.
        return []
    return [
        {
            "start": utc_second(segment.start),
            "end": utc_second(segment.end),
            "period": segment.period_label,
            "price": str(segment.price),
        }
        for segment in segments
    ]


def pev_parameters(
    *,
    binding_id: str,
    vin: str,
    premise_id: str,
    plan: ServicePlan,
    interval: int,
    version: str,
    public_jwk: dict,
    at: dt.datetime,
) -> dict:
    """What the PEV receives at commissioning (steps 9–11): the credential binds its VIN to its key."""
    return {
        "typ": "pev-parameters",
        "binding_id": binding_id,
        "pev_id": vin,
        "premise_id": premise_id,
        "program": plan.program.code,
        "plan": plan.code,
        "parameters_version": version,
        "interval_seconds": interval,
        "price_schedule": price_schedule(plan, at),
        # RFC 7800 confirmation claim: the holder of this key is the PEV with this VIN.
        "cnf": {"jwk": public_jwk},
        "iat": int(at.timestamp()),
    }
