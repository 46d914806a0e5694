"""What deciding a plug-in needs to know, read in one statement (the evening-peak hot path; bench/binding.py),
after the PEV's row lock when the plug-in is decided under it.

The PEV (with the year, make and model the live panel shows), its current enrollment with the plan,
programme and tariff, its valid key, whether it has a live binding (and one plugged in later than this),
whether the proof was already used, the EUMD if it is enabled at this premise or in this PEV, and the plug-in
window. Building the dozen ORM queries this replaces cost more CPU than PostgreSQL spent on them. The models
built here carry these columns (others load when read); they are read, never saved.
"""

import dataclasses
import datetime as dt
import json

from django.db import connection

from billing.models import Tariff
from enrollment.models import Enrollment, Pev, PevProgram, ServicePlan
from pevportal import prepared

from .models import Binding, Device, DeviceKind, PevKey

_LIVE = tuple(Binding.LIVE_STATES)
_CURRENT = tuple(Enrollment.HOLDING_STATUSES)
_LIVE_IN = ", ".join(["%s"] * len(_LIVE))
_CURRENT_IN = ", ".join(["%s"] * len(_CURRENT))

_PLUG_IN = f"""
SELECT (SELECT MAX(binding_timeout_seconds) FROM enrollment_serviceplan),
       p.id, p.year, p.make, p.model,
       e.id, e.account_id, e.premise_id, e.status, e.guest_charging, e.guest_vins, e.allow_roaming,
       s.id, s.code, s.program_id, s.tariff_id, s.eumd_interval_seconds, s.binding_timeout_seconds,
       g.code, t.code, t.time_zone,
       k.id, k.public_jwk,
       EXISTS (SELECT 1 FROM binding_binding b WHERE b.pev_id = p.id AND b.state IN ({_LIVE_IN})),
       EXISTS (SELECT 1 FROM binding_binding b WHERE b.pev_id = p.id AND b.state IN ({_LIVE_IN})
                  AND b.plugged_in_at > %s),
       EXISTS (SELECT 1 FROM binding_binding b WHERE b.proof_sha256 = %s),
       d.id, d.interval_seconds
  FROM (SELECT 1 AS one) one
  LEFT JOIN enrollment_pev p ON p.vin = %s
  LEFT JOIN enrollment_enrollment e
         ON e.pev_id = p.id AND e.status IN ({_CURRENT_IN})
  LEFT JOIN enrollment_serviceplan s ON s.id = e.plan_id
  LEFT JOIN enrollment_pevprogram g ON g.id = s.program_id
  LEFT JOIN billing_tariff t ON t.id = s.tariff_id
  LEFT JOIN binding_pevkey k ON k.enrollment_id = e.id AND k.revoked_at IS NULL
  LEFT JOIN binding_device d
         ON d.lfdi = %s AND d.kind = %s AND d.enabled AND (d.premise_id = %s OR d.pev_id = p.id)
"""  # noqa: S608 — only placeholders are formatted in; every value is a parameter
_LOCK = "SELECT id FROM enrollment_pev WHERE vin = %s FOR UPDATE"


@dataclasses.dataclass(frozen=True)
class PlugInFacts:
    window: dt.timedelta
    pev: Pev | None = None
    enrollment: Enrollment | None = None
    key: PevKey | None = None
    eumd: Device | None = None
    has_live: bool = False
    later_live: bool = False
    proof_used: bool = False


def read_facts(
    *,
    lock: bool,
    vin: str,
    premise_id: int,
    eumd_lfdi: str,
    plugged_in_at: dt.datetime,
    proof_digest: str,
    default_window: int,
) -> PlugInFacts:
    """The facts of one plug-in. With `lock`, call inside the transaction that records it: the PEV's row
    stays locked until it ends. Without, the unique indexes the insert meets decide a race
    (binding/handshake.py `request_binding`)."""
    params = [
        *_LIVE,
        *_LIVE,
        connection.ops.adapt_datetimefield_value(plugged_in_at),
        proof_digest,
        vin,
        *_CURRENT,
        eumd_lfdi,
        DeviceKind.EUMD.value,
        premise_id,
    ]
    # Prepared statements (pevportal/prepared.py): planning the facts' joins cost more than running them.
    with prepared.cursor() as cursor:
        # The lock first, in a statement of its own: under READ COMMITTED a statement that waited for a row
        # lock still reads everything else from the snapshot it started with, so the facts are read after
        # it, in a new statement that sees what the plug-in holding the lock committed.
        # SQLite has no FOR UPDATE: it serialises writers itself.
        if lock and connection.features.has_select_for_update:
            cursor.execute(_LOCK, [vin])
        cursor.execute(_PLUG_IN, params)
        longest, pev_id, year, make, model, *row = cursor.fetchone()
    window = dt.timedelta(seconds=max(longest or 0, default_window))
    if pev_id is None:
        return PlugInFacts(window=window)
    (enrollment_id, account_id, home_id, status, guest_charging, guest_vins, allow_roaming,
     plan_id, plan_code, program_id, tariff_id, interval, timeout, program_code, tariff_code, time_zone,
     key_id, key_jwk, has_live, later_live, proof_used, eumd_id, eumd_interval) = row  # fmt: skip
    pev = _loaded(Pev, id=pev_id, vin=vin, year=year, make=make, model=model)
    eumd = None
    if eumd_id is not None:
        eumd = _loaded(
            Device, id=eumd_id, lfdi=eumd_lfdi, kind=DeviceKind.EUMD, interval_seconds=eumd_interval
        )
    enrollment = key = None
    if enrollment_id is not None:
        plan = _loaded(
            ServicePlan,
            id=plan_id,
            code=plan_code,
            program_id=program_id,
            tariff_id=tariff_id,
            eumd_interval_seconds=interval,
            binding_timeout_seconds=timeout,
        )
        plan.program = _loaded(PevProgram, id=program_id, code=program_code)
        plan.tariff = _loaded(Tariff, id=tariff_id, code=tariff_code, time_zone=time_zone)
        enrollment = _loaded(
            Enrollment,
            id=enrollment_id,
            pev_id=pev_id,
            account_id=account_id,
            premise_id=home_id,
            plan_id=plan_id,
            status=status,
            guest_charging=guest_charging,
            guest_vins=_json(guest_vins),
            allow_roaming=bool(allow_roaming),
        )
        enrollment.pev, enrollment.plan = pev, plan
    if key_id is not None:
        key = _loaded(
            PevKey, id=key_id, pev_id=pev_id, enrollment_id=enrollment_id, public_jwk=_json(key_jwk)
        )
        key.pev, key.enrollment = pev, enrollment
    return PlugInFacts(
        window=window,
        pev=pev,
        enrollment=enrollment,
        key=key,
        eumd=eumd,
        has_live=bool(has_live),
        later_live=bool(later_live),
        proof_used=bool(proof_used),
    )


def _loaded(model_class, /, **values):
    """An instance with these columns, built as a query builds one: the others are deferred (read, they load)
    rather than defaults, and construction skips __init__'s keyword handling (seven per plug-in)."""
    names = [field.attname for field in model_class._meta.concrete_fields if field.attname in values]
    return model_class.from_db(connection.alias, names, [values[name] for name in names])


def _json(value):
    """JSON columns come back decoded from PostgreSQL and as text from SQLite."""
    return json.loads(value) if isinstance(value, str | bytes) else value
