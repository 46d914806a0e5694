"""Importing enrollments in bulk (Req 3, 4; BR.1): existing EV-rate customers migrated from another system
and partners enrolling PEVs at the point of sale, one row per PEV (docs/imports.md "import_enrollments").

A row is accepted exactly when the wizard and the CSR screens would accept it (enrolling.check_enrollment):
the same rules and the same messages, applied set-based — the registry rows a file names are read in a few
queries per thousand rows and the enrollments are written in bulk, never one query per row. A row whose VIN
is already enrolled with the same account, premise, plan and preferences is counted unchanged, so importing
the same file twice changes nothing.

The unique constraint "one current enrollment per VIN" decides a race with a CSR enrolling a VIN of the file
while it is being imported: the whole import is rolled back and the VINs taken meanwhile are reported.
"""

import datetime as dt
import re
import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.models import DEFAULT_TIME_ZONE
from enrollment.enrolling import COMMISSIONING_WINDOW, ENROLLMENT_AUDIT_FIELDS, check_guest_vins
from enrollment.models import (
    CommissioningWindow,
    Enrollment,
    EnrollmentChannel,
    GuestCharging,
    Pev,
    PevProgram,
    PlanAssignment,
    Premise,
    ServicePlan,
    UtilityAccount,
)
from enrollment.vehicles import decode_vin
from enrollment.vin import normalize_vin, validate_vin
from pevportal.audit import Change, json_safe, record_many
from pevportal.bulk import insert_rows, rows_by_key
from pevportal.csvimport import ParsedFile, RowError, field_errors, parse_csv
from pevportal.models import Channel, ImportRun

REQUIRED_COLUMNS = [
    "account_number",
    "premise_id",
    "vin",
    "program_code",
    "plan_code",
    "guest_charging",
    "allow_roaming",
]
OPTIONAL_COLUMNS = ["guest_vins", "effective_date"]
IMPORT_KIND = "enrollments"
ACTOR_LABEL = "import_enrollments"
# A migrated customer keeps the start date they had on the old system, up to a year back (no PEV reads exist
# before commissioning, so nothing already billed is re-rated); a dealer may enroll a car delivered within
# 90 days.
EFFECTIVE_DATE_PAST = dt.timedelta(days=365)
EFFECTIVE_DATE_FUTURE = dt.timedelta(days=90)
_GUEST_CHARGING = frozenset(GuestCharging.values)  # the enum builds the list anew on every access
_BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# Keys per `IN (…)` query: SQLite binds each as a parameter (at most 999 on older builds), PostgreSQL not.
_SQLITE_KEYS_PER_QUERY = 900
_POSTGRES_KEYS_PER_QUERY = 20_000
_ENROLLMENT_FIELDS = [
    "pev_id",
    "account_id",
    "premise_id",
    "plan_id",
    "status",
    "channel",
    "guest_charging",
    "guest_vins",
    "allow_roaming",
    "effective_from",
    "effective_to",
    "ended_reason",
    "created_at",
]


@dataclass(frozen=True)
class EnrollmentRow:
    """A row that passed every check; `unchanged` when its VIN is already enrolled exactly like this."""

    vin: str
    account_id: int
    premise_pk: int
    plan_id: int
    guest_charging: str
    guest_vins: list[str]
    allow_roaming: bool
    effective_from: dt.datetime | None  # None: when the import runs
    pev_id: int | None  # the VIN's registry row when it has one
    unchanged: bool


@dataclass
class EnrollmentImportResult:
    """What an import did: counts an operator reads in the command output."""

    enrollments_created: int = 0
    pevs_created: int = 0
    unchanged_rows: int = 0
    rejected_rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    run: ImportRun | None = None

    @property
    def changed(self) -> bool:
        return self.enrollments_created > 0


class EnrollmentImportConflict(Exception):
    """The database changed under the import (a VIN of the file was enrolled meanwhile); nothing written."""

    def __init__(self, errors: list[RowError]):
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


@dataclass
class _Candidate:
    """A row after the checks that need no database, with the errors found so far (column → reason)."""

    values: dict[str, str]
    errors: dict[str, str]
    vin: str
    plan: "_Plan | None"
    guest_charging: str
    guest_vins: list[str]
    allow_roaming: bool
    effective_from: dt.datetime | None
    row: EnrollmentRow | None = None  # set once the row passed the database checks too


@dataclass(frozen=True)
class _Plan:
    pk: int
    code: str
    program_code: str
    zone: zoneinfo.ZoneInfo


def parse_enrollment_file(path: Path, progress: Callable[[int], None] | None = None) -> ParsedFile:
    """Validate every row of an enrollment file, against each other and against the database."""
    plans = {
        plan.code: _Plan(plan.pk, plan.code, plan.program.code, plan.tariff.zone)
        for plan in ServicePlan.objects.select_related("program", "tariff")
    }
    programs = set(PevProgram.objects.values_list("code", flat=True))
    now = timezone.now()
    parsed = parse_csv(
        path,
        required=REQUIRED_COLUMNS,
        optional=OPTIONAL_COLUMNS,
        validate_row=lambda line, values: _check_row(values, plans, programs, now),
        progress=progress,
    )
    _check_against_each_other(parsed.rows)
    _check_against_database(parsed.rows)
    good = []
    for line, candidate in parsed.rows:
        if candidate.errors:
            parsed.errors.extend(
                RowError(line, column, reason) for column, reason in candidate.errors.items()
            )
        else:
            good.append((line, candidate.row))
    parsed.rows = good
    parsed.errors.sort()
    return parsed


def _check_row(
    values: dict[str, str], plans: dict[str, _Plan], programs: set[str], now: dt.datetime
) -> _Candidate:
    """The rules one row can be checked by alone; never raises, so a row's database errors are added later
    and an operator sees every problem of a row at once, as the wizard shows every bad field."""
    errors = {column: "is required" for column in REQUIRED_COLUMNS if not values[column]}
    vin = normalize_vin(values["vin"])
    if "vin" not in errors:
        try:
            validate_vin(vin)
        except ValidationError as exc:
            errors.update(field_errors(exc, "vin"))
    program_code, plan = values["program_code"], plans.get(values["plan_code"])
    if program_code and program_code not in programs:
        errors["program_code"] = f"no programme with code {program_code!r}"
    if values["plan_code"] and plan is None:
        errors["plan_code"] = f"no plan with code {values['plan_code']!r}"
    elif plan is not None and program_code in programs and plan.program_code != program_code:
        errors["plan_code"] = f"plan {plan.code} belongs to programme {plan.program_code}, not {program_code}"
    guest_charging = values["guest_charging"].lower()
    if guest_charging and guest_charging not in _GUEST_CHARGING:
        # The wizard's message, and the values a file may use.
        errors["guest_charging"] = _("Choose how guests are treated.") + " Use declined, host or guest."
    guest_vins: list[str] = []
    try:
        guest_vins = check_guest_vins(values["guest_vins"].split(), guest_charging, own_vin=vin)
    except ValidationError as exc:
        errors.update(field_errors(exc, "guest_vins"))
    allow_roaming = _BOOLEANS.get(values["allow_roaming"].lower())
    if values["allow_roaming"] and allow_roaming is None:
        errors["allow_roaming"] = "must be true or false (yes/no and 1/0 are accepted too)"
    effective_from = None
    if values["effective_date"]:
        zone = plan.zone if plan else zoneinfo.ZoneInfo(DEFAULT_TIME_ZONE)
        try:
            effective_from = _start_of(values["effective_date"], zone, now)
        except ValueError as exc:
            errors["effective_date"] = str(exc)
    return _Candidate(
        values=values,
        errors=errors,
        vin=vin,
        plan=plan,
        guest_charging=guest_charging,
        guest_vins=guest_vins,
        allow_roaming=bool(allow_roaming),
        effective_from=effective_from,
    )


def _start_of(value: str, zone: zoneinfo.ZoneInfo, now: dt.datetime) -> dt.datetime:
    """00:00 local on the date in the plan's tariff zone (billing periods are local), as UTC."""
    try:
        if not _DATE.fullmatch(value):
            raise ValueError
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError("must be a date as YYYY-MM-DD, e.g. 2026-03-01") from None
    today = now.astimezone(zone).date()
    earliest, latest = today - EFFECTIVE_DATE_PAST, today + EFFECTIVE_DATE_FUTURE
    if day < earliest:
        raise ValueError(
            f"is more than {EFFECTIVE_DATE_PAST.days} days ago; the earliest accepted is {earliest}"
        )
    if day > latest:
        raise ValueError(
            f"is more than {EFFECTIVE_DATE_FUTURE.days} days ahead; the latest accepted is {latest}"
        )
    return dt.datetime.combine(day, dt.time(), tzinfo=zone).astimezone(dt.UTC)


def _check_against_each_other(rows: list[tuple[int, _Candidate]]) -> None:
    """A VIN is enrolled once: it may appear on one row of a file."""
    first_line: dict[str, int] = {}
    for line, candidate in rows:
        if "vin" in candidate.errors:
            continue
        earlier = first_line.setdefault(candidate.vin, line)
        if earlier != line:
            candidate.errors["vin"] = f"{candidate.vin} already appears on line {earlier}"


def _check_against_database(rows: list[tuple[int, _Candidate]]) -> None:
    """The wizard's rules that read the registry (enrolling.check_enrollment), for all rows at once: the
    premise is on the account, the plan is offered there, the VIN holds no other current enrollment."""
    candidates = [candidate for _, candidate in rows]
    accounts = rows_by_key(
        UtilityAccount, "number", _distinct(c.values["account_number"] for c in candidates)
    )
    premises = rows_by_key(
        Premise,
        "premise_id",
        _distinct(c.values["premise_id"] for c in candidates),
        ["account_id", "default_tariff_id"],
    )
    eligible = _eligible_plans({p["default_tariff_id"] for p in premises.values()})
    pevs = rows_by_key(Pev, "vin", _distinct(c.vin for c in candidates if "vin" not in c.errors))
    current = _current_enrollments([pev["pk"] for pev in pevs.values()])
    for candidate in candidates:
        errors, values = candidate.errors, candidate.values
        account = accounts.get(values["account_number"])
        premise = premises.get(values["premise_id"])
        if values["account_number"] and account is None:
            errors["account_number"] = (
                f"no account with number {values['account_number']!r} (import_cis first)"
            )
        if values["premise_id"] and premise is None:
            errors["premise_id"] = f"no premise with ID {values['premise_id']!r} (import_cis first)"
        if account and premise and premise["account_id"] != account["pk"]:
            errors["premise_id"] = _("This premise is not on the account.")
        elif premise and candidate.plan and candidate.plan.pk not in eligible[premise["default_tariff_id"]]:
            errors.setdefault("plan_code", _("This plan is not offered at this premise."))
        pev = pevs.get(candidate.vin) if "vin" not in errors else None
        enrolled = current.get(pev["pk"]) if pev else None
        unchanged = enrolled is not None and _choices(enrolled) == {
            "account_id": account and account["pk"],
            "premise_id": premise and premise["pk"],
            "plan_id": candidate.plan and candidate.plan.pk,
            "guest_charging": candidate.guest_charging,
            "guest_vins": sorted(candidate.guest_vins),
            "allow_roaming": candidate.allow_roaming,
        }
        if enrolled and not unchanged:
            errors["vin"] = _(
                "This vehicle is already enrolled. If you bought it from its previous owner, you can ask us "
                "to transfer the enrollment to you."
            )
        if not errors:
            candidate.row = EnrollmentRow(
                vin=candidate.vin,
                account_id=account["pk"],
                premise_pk=premise["pk"],
                plan_id=candidate.plan.pk,
                guest_charging=candidate.guest_charging,
                guest_vins=candidate.guest_vins,
                allow_roaming=candidate.allow_roaming,
                effective_from=candidate.effective_from,
                pev_id=pev["pk"] if pev else None,
                unchanged=unchanged,
            )


def _distinct(keys: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(key for key in keys if key))


def _eligible_plans(tariff_ids: set[int]) -> dict[int, set[int]]:
    """{default tariff: plans a premise on it may choose}, by the wizard's own rule (eligible_for); one
    query per distinct default tariff — a handful, whatever the size of the file."""
    return {
        tariff_id: set(
            ServicePlan.objects.eligible_for(Premise(default_tariff_id=tariff_id)).values_list(
                "pk", flat=True
            )
        )
        for tariff_id in tariff_ids
    }


def _current_enrollments(pev_ids: list[int]) -> dict[int, dict]:
    """{pev id: its current enrollment's pk and choices}, in a query per 900 PEVs (SQLite) or 20,000."""
    found = {}
    size = _POSTGRES_KEYS_PER_QUERY if connection.vendor == "postgresql" else _SQLITE_KEYS_PER_QUERY
    for start in range(0, len(pev_ids), size):
        for values in (
            Enrollment.objects.current()
            .filter(pev_id__in=_id_list(pev_ids[start : start + size]))
            .values(
                "pk",
                "pev_id",
                "account_id",
                "premise_id",
                "plan_id",
                "guest_charging",
                "guest_vins",
                "allow_roaming",
            )
        ):
            found[values.pop("pev_id")] = values
    return found


def _id_list(ids: list[int]):
    """An `__in` operand: on PostgreSQL one array parameter, as pevportal.bulk.rows_by_key uses — 20,000
    placeholders take longer to build and bind than the query takes to run."""
    if connection.vendor == "postgresql":
        return RawSQL("SELECT unnest(%s::bigint[])", [ids])
    return ids


def _choices(enrolled: dict) -> dict:
    """What a row must repeat to count as unchanged; the order of guest VINs does not matter."""
    choices = {name: value for name, value in enrolled.items() if name != "pk"}
    choices["guest_vins"] = sorted(choices["guest_vins"])
    return choices


def import_enrollment_rows(parsed: ParsedFile, *, filename: str) -> EnrollmentImportResult:
    """Enroll the validated rows in one transaction — each with its first plan assignment, its commissioning
    window and one audit record, as enroll() does — and record the run. No confirmation email is sent:
    migrated customers and point-of-sale buyers are told by the migration letter or the partner.

    Raises EnrollmentImportConflict, with nothing written, when a VIN of the file was enrolled meanwhile."""
    new = [(line, row) for line, row in parsed.rows if not row.unchanged]
    result = EnrollmentImportResult(
        unchanged_rows=len(parsed.rows) - len(new),
        rejected_rows=len({e.line for e in parsed.errors}),
        errors=parsed.errors,
    )
    now = timezone.now()
    try:
        # Bulk COPY reports psycopg's own errors; wrapping them lets one `except IntegrityError` cover both
        # the unique constraint below and a premise deleted meanwhile (foreign keys are checked at commit).
        with connection.wrap_database_errors, transaction.atomic():
            if new:
                _enroll_rows(new, parsed.sha256, now, result)
            result.run = _record_run(parsed, filename, result)
    except IntegrityError:
        # The race with a CSR enrolling a VIN of the file after it was validated: the constraint
        # "one current enrollment per VIN" refused the insert, and the whole import rolled back.
        raise EnrollmentImportConflict(_conflicts(new)) from None
    return result


def _enroll_rows(
    new: list[tuple[int, EnrollmentRow]], sha256: str, now: dt.datetime, result: EnrollmentImportResult
) -> None:
    unregistered = [row.vin for _, row in new if row.pev_id is None]
    insert_rows(Pev, ["vin", "make", "model", "year"], _registry_rows(unregistered))
    pev_ids = {row.vin: row.pev_id for _, row in new if row.pev_id is not None}
    pev_ids.update({vin: found["pk"] for vin, found in rows_by_key(Pev, "vin", unregistered).items()})
    enrollments = [
        {
            "pev_id": pev_ids[row.vin],
            "account_id": row.account_id,
            "premise_id": row.premise_pk,
            "plan_id": row.plan_id,
            "status": Enrollment.Status.PENDING_COMMISSIONING,
            "channel": EnrollmentChannel.IMPORT,
            "guest_charging": row.guest_charging,
            "guest_vins": row.guest_vins,
            "allow_roaming": row.allow_roaming,
            "effective_from": row.effective_from or now,
            "effective_to": None,
            "ended_reason": "",
            "created_at": now,
        }
        for _, row in new
    ]
    insert_rows(Enrollment, _ENROLLMENT_FIELDS, ([e[f] for f in _ENROLLMENT_FIELDS] for e in enrollments))
    enrollment_pks = {
        pev_id: found["pk"] for pev_id, found in _current_enrollments(list(pev_ids.values())).items()
    }
    windows, changes = [], []
    for (line, _row), enrollment in zip(new, enrollments, strict=True):
        pk = enrollment_pks[enrollment["pev_id"]]
        # A past effective date still leaves the customer a whole window from today to plug in; a future
        # one (a car not yet delivered) opens the window on that day.
        opens_at = max(now, enrollment["effective_from"])
        windows.append((pk, opens_at, opens_at + COMMISSIONING_WINDOW, "enrolled"))
        values = {name.removesuffix("_id"): value for name, value in enrollment.items()}
        changes.append(
            Change(
                "enrollment.created",
                Enrollment,
                pk,
                after={name: json_safe(values[name]) for name in ENROLLMENT_AUDIT_FIELDS},
                context={
                    "commissioning_closes_at": opens_at + COMMISSIONING_WINDOW,
                    "import_sha256": sha256,
                    "line": line,
                },
            )
        )
    insert_rows(
        PlanAssignment,
        ["enrollment_id", "plan_id", "effective_from", "effective_to"],
        ((enrollment_pks[e["pev_id"]], e["plan_id"], e["effective_from"], None) for e in enrollments),
    )
    insert_rows(CommissioningWindow, ["enrollment_id", "opens_at", "closes_at", "reason"], windows)
    record_many(changes, channel=Channel.IMPORT, actor_label=ACTOR_LABEL)
    result.enrollments_created = len(enrollments)
    result.pevs_created = len(unregistered)


def _registry_rows(vins: list[str]) -> Iterable[tuple]:
    """New Pev rows with what each VIN decodes to, as pev_for_vin would create them."""
    for vin in vins:
        info = decode_vin(vin)
        yield vin, info.make, info.model, info.year


def _conflicts(new: list[tuple[int, EnrollmentRow]]) -> list[RowError]:
    """After a rolled-back import: the rows whose VIN someone enrolled while the import ran."""
    pevs = rows_by_key(Pev, "vin", [row.vin for _, row in new])
    current = _current_enrollments([pev["pk"] for pev in pevs.values()])
    taken = [
        RowError(line, "vin", f"{row.vin} was enrolled by someone else while this import ran")
        for line, row in new
        if row.vin in pevs and pevs[row.vin]["pk"] in current
    ]
    return taken or [
        RowError(1, "(file)", "an account, premise or vehicle of the file changed while this import ran")
    ]


def _record_run(parsed: ParsedFile, filename: str, result: EnrollmentImportResult) -> ImportRun:
    return ImportRun.objects.record(
        kind=IMPORT_KIND,
        sha256=parsed.sha256,
        filename=filename,
        changed=result.changed,
        rows_total=parsed.rows_seen,
        rows_created=result.enrollments_created,
        rows_unchanged=result.unchanged_rows,
        rows_rejected=result.rejected_rows,
        errors=[str(e) for e in parsed.errors[:1000]],
    )
