"""Importing the utility's customers, accounts and premises from a CIS extract (Req 4, 5; BR.1, BR.8).

The file is validated as a whole first; only then are rows upserted — by account number and premise ID —
in one transaction, with set-based reads and writes (a few queries per thousand rows, never one per row)
and one audit record per row that changed. Rows that match the database are not written, so importing the
same file twice leaves the database as it was.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models, transaction

from billing.models import Tariff
from enrollment.models import IDENTIFIER, POSTAL_CODE, Customer, Premise, UtilityAccount
from pevportal.audit import Change, record_many
from pevportal.bulk import insert_rows, rows_by_key, serialize_writers, update_rows
from pevportal.csvimport import ParsedFile, RowError, RowInvalid, parse_csv
from pevportal.models import Channel, ImportRun

REQUIRED_COLUMNS = [
    "account_number",
    "customer_name",
    "email",
    "phone",
    "premise_id",
    "service_address",
    "postal_code",
    "meter_id",
    "feeder_id",
    "default_tariff_code",
]
# A CIS that knows customers apart from accounts sends their ID; otherwise each account is its own customer.
OPTIONAL_COLUMNS = ["customer_id"]
IMPORT_KIND = "cis"
_MAX_LENGTH = {"customer_name": 200, "service_address": 300, "email": 254}
# The models' validators' rules and messages, compiled once and applied directly: calling the validators
# (lazily compiled patterns, lazily translated messages) 600,000 times costs seconds on a large extract.
_IDENTIFIER = re.compile(IDENTIFIER.regex.pattern)
_IDENTIFIER_MESSAGE = str(IDENTIFIER.message)
_POSTAL_CODE = re.compile(POSTAL_CODE.regex.pattern)
_POSTAL_CODE_MESSAGE = str(POSTAL_CODE.message)


@dataclass(frozen=True)
class CisRow:
    customer_id: str
    customer_name: str
    email: str
    phone: str
    account_number: str
    premise_id: str
    service_address: str
    postal_code: str
    meter_id: str
    feeder_id: str
    tariff_id: int


@dataclass
class ImportResult:
    """What an import did, per kind of row: counts a CSR or an operator reads in the command output."""

    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    created_rows: int = 0  # rows whose premise is new
    updated_rows: int = 0  # rows whose customer, account or premise changed
    unchanged_rows: int = 0
    rejected_rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    run: ImportRun | None = None

    @property
    def changed(self) -> bool:
        return any(self.created.values()) or any(self.updated.values())


def parse_cis_file(path: Path, progress: Callable[[int], None] | None = None) -> ParsedFile:
    """Validate every row of a CIS extract, and the rows against each other and the database."""
    tariffs = dict(Tariff.objects.values_list("code", "pk"))
    parsed = parse_csv(
        path,
        required=REQUIRED_COLUMNS,
        optional=OPTIONAL_COLUMNS,
        validate_row=lambda line, values: _validate_row(values, tariffs),
        progress=progress,
    )
    _check_across_rows(parsed)
    _check_meters_against_database(parsed)
    parsed.errors.sort()
    return parsed


def _validate_row(values: dict[str, str], tariffs: dict[str, int]) -> CisRow:
    errors: dict[str, str] = {}
    for column in REQUIRED_COLUMNS:
        if column != "email" and not values[column]:
            errors[column] = "is required"
    for column, limit in _MAX_LENGTH.items():
        if len(values[column]) > limit:
            errors[column] = f"is longer than {limit} characters"
    for column in ("account_number", "premise_id", "meter_id", "feeder_id", "customer_id"):
        if values[column] and column not in errors:
            if not _IDENTIFIER.fullmatch(values[column]):
                errors[column] = _IDENTIFIER_MESSAGE
            elif len(values[column]) > 32:
                errors[column] = "is longer than 32 characters"
    if values["email"] and "email" not in errors:
        try:
            validate_email(values["email"])
        except ValidationError as exc:
            errors["email"] = " ".join(exc.messages)
    if values["postal_code"] and not _POSTAL_CODE.fullmatch(values["postal_code"]):
        errors["postal_code"] = _POSTAL_CODE_MESSAGE
    phone = _phone_digits(values["phone"])
    if values["phone"] and phone is None:
        errors["phone"] = "must be a 10-digit North American number, e.g. 626-555-0100"
    code = values["default_tariff_code"]
    if code and code not in tariffs:
        errors["default_tariff_code"] = f"no tariff with code {code!r} (import the tariff first)"
    if errors:
        raise RowInvalid(errors)
    return CisRow(
        customer_id=values["customer_id"] or f"A-{values['account_number']}",
        customer_name=values["customer_name"],
        email=values["email"].lower(),
        phone=phone,
        account_number=values["account_number"],
        premise_id=values["premise_id"],
        service_address=values["service_address"],
        postal_code=values["postal_code"],
        meter_id=values["meter_id"],
        feeder_id=values["feeder_id"],
        tariff_id=tariffs[code],
    )


def _phone_digits(value: str) -> str | None:
    digits = re.sub(r"[\s().+-]", "", value)
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    return digits if re.fullmatch(r"[2-9]\d{9}", digits) else None


def _check_across_rows(parsed: ParsedFile) -> None:
    """A premise or meter appears once; an account and a customer read the same on every row."""
    first_line: dict[tuple[str, str], int] = {}
    seen: dict[tuple[str, str], tuple[int, tuple]] = {}
    rejected: set[int] = set()
    for line, row in parsed.rows:
        for column, key in (("premise_id", row.premise_id), ("meter_id", row.meter_id)):
            earlier = first_line.setdefault((column, key), line)
            if earlier != line:
                parsed.errors.append(RowError(line, column, f"{key} already appears on line {earlier}"))
                rejected.add(line)
        for column, key, facts in (
            ("account_number", row.account_number, (row.customer_id,)),
            ("customer_id", row.customer_id, (row.customer_name, row.email, row.phone)),
        ):
            earlier_line, earlier_facts = seen.setdefault((column, key), (line, facts))
            if earlier_facts != facts:
                what = "customer" if column == "account_number" else "name, email or phone"
                parsed.errors.append(
                    RowError(line, column, f"{key} has a different {what} than on line {earlier_line}")
                )
                rejected.add(line)
    parsed.rows = [(line, row) for line, row in parsed.rows if line not in rejected]


def _check_meters_against_database(parsed: ParsedFile) -> None:
    """A revenue meter already installed at another premise cannot be claimed by this one."""
    by_meter = {row.meter_id: (line, row) for line, row in parsed.rows}
    rejected: set[int] = set()
    for meter_id, found in rows_by_key(Premise, "meter_id", list(by_meter), ["premise_id"]).items():
        line, row = by_meter[meter_id]
        if found["premise_id"] != row.premise_id:
            parsed.errors.append(
                RowError(line, "meter_id", f"{meter_id} is installed at premise {found['premise_id']}")
            )
            rejected.add(line)
    parsed.rows = [(line, row) for line, row in parsed.rows if line not in rejected]


def import_cis_rows(parsed: ParsedFile, *, filename: str) -> ImportResult:
    """Upsert the validated rows in one transaction and record the run; see the module docstring."""
    result = ImportResult(errors=parsed.errors)
    with transaction.atomic():
        # One CIS import at a time: a second one waits here rather than racing on the unique keys.
        serialize_writers("import_cis")
        _check_meters_against_database(parsed)  # again, now that no other import can move a meter
        rows = [row for _, row in parsed.rows]
        customers = {
            r.customer_id: {"name": r.customer_name, "email": r.email, "phone": r.phone} for r in rows
        }
        customer_pks, touched_customers = _upsert(Customer, "cis_id", customers, result)
        accounts = {r.account_number: {"customer_id": customer_pks[r.customer_id]} for r in rows}
        account_pks, touched_accounts = _upsert(UtilityAccount, "number", accounts, result)
        premises = {
            r.premise_id: {
                "account_id": account_pks[r.account_number],
                "service_address": r.service_address,
                "postal_code": r.postal_code,
                "meter_id": r.meter_id,
                "feeder_id": r.feeder_id,
                "default_tariff_id": r.tariff_id,
            }
            for r in rows
        }
        _, touched_premises = _upsert(Premise, "premise_id", premises, result)
        created_premises, updated_premises = touched_premises
        for r in rows:
            if r.premise_id in created_premises:
                result.created_rows += 1
            elif (
                r.customer_id in touched_customers[0] | touched_customers[1]
                or r.account_number in touched_accounts[0] | touched_accounts[1]
                or r.premise_id in updated_premises
            ):
                result.updated_rows += 1
            else:
                result.unchanged_rows += 1
        result.rejected_rows = len({e.line for e in parsed.errors})
        result.run = _record_run(parsed, filename, result)
    return result


def _upsert(
    model: type[models.Model], key: str, desired: dict[str, dict], result: ImportResult
) -> tuple[dict[str, int], tuple[set[str], set[str]]]:
    """Create missing rows and update differing ones; return {key: pk} for every desired key and the keys
    (created, updated). `desired` maps each key to its other columns (foreign keys by id)."""
    label = model._meta.model_name
    fields = list(next(iter(desired.values()), {}))
    existing = rows_by_key(model, key, list(desired), fields)
    new_keys = [k for k in desired if k not in existing]
    insert_rows(model, [key, *fields], ([k, *desired[k].values()] for k in new_keys))
    pks = {k: v["pk"] for k, v in existing.items()}
    pks.update({k: v["pk"] for k, v in rows_by_key(model, key, new_keys).items()})
    changes = [Change(f"{label}.created", model, pks[k], None, {key: k, **desired[k]}) for k in new_keys]
    updates, updated_keys = [], set()
    for k, current in existing.items():
        values = desired[k]
        changed = [f for f in fields if current[f] != values[f]]
        if changed:
            updates.append((current["pk"], *values.values()))
            updated_keys.add(k)
            before, after = {f: current[f] for f in changed}, {f: values[f] for f in changed}
            changes.append(Change(f"{label}.updated", model, current["pk"], before, after))
    update_rows(model, fields, updates)
    record_many(changes, channel=Channel.IMPORT, actor_label="import_cis")
    result.created[label] = len(new_keys)
    result.updated[label] = len(updates)
    return pks, (set(new_keys), updated_keys)


def _record_run(parsed: ParsedFile, filename: str, result: ImportResult) -> ImportRun:
    return ImportRun.objects.record(
        kind=IMPORT_KIND,
        sha256=parsed.sha256,
        filename=filename,
        changed=result.changed,
        rows_total=parsed.rows_seen,
        rows_created=result.created_rows,
        rows_updated=result.updated_rows,
        rows_unchanged=result.unchanged_rows,
        rows_rejected=result.rejected_rows,
        errors=[str(e) for e in parsed.errors[:1000]],
    )
