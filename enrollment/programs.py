"""Configuring the PEV programmes and service plans on offer (Req 2) from a JSON file.

Programmes and plans are upserted by code, in one transaction, with one audit record per change. A plan
names its tariff and the default tariffs it is open to by tariff code; an unknown code stops the import.
"""

import json
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction

from billing.models import Tariff
from enrollment.models import PevProgram, ServicePlan
from pevportal.audit import record, save_audited
from pevportal.models import Channel

PROGRAM_FIELDS = ["name", "summary", "description", "is_active", "sort_order"]
PLAN_FIELDS = [
    "program",
    "name",
    "summary",
    "tariff",
    "eumd_interval_seconds",
    "binding_timeout_seconds",
    "is_active",
    "sort_order",
]


class ProgramFileError(ValueError):
    """The file names a field wrongly; the message says which (e.g. `programs[0].plans[1].tariff`)."""


@dataclass
class ProgramImportResult:
    programs_changed: int = 0
    plans_changed: int = 0


def import_programs_file(path: Path, *, actor_label: str = "import_programs") -> ProgramImportResult:
    """Upsert every programme and plan of a programmes file; nothing is written if any part is wrong."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProgramFileError(f"{path.name}: not a UTF-8 JSON document ({exc})") from None
    programs = document.get("programs") if isinstance(document, dict) else None
    if not isinstance(programs, list):
        raise ProgramFileError("programs: must be a list")
    result = ProgramImportResult()
    with transaction.atomic():
        tariffs = {t.code: t for t in Tariff.objects.all()}
        for i, data in enumerate(programs):
            program, changed = _upsert_program(data, f"programs[{i}]", actor_label)
            result.programs_changed += changed
            for j, plan_data in enumerate(data.get("plans", [])):
                result.plans_changed += _upsert_plan(
                    program, plan_data, tariffs, f"programs[{i}].plans[{j}]", actor_label
                )
    return result


def _upsert_program(data: dict, where: str, actor_label: str) -> tuple[PevProgram, bool]:
    values = {f: data[f] for f in PROGRAM_FIELDS if f in data}
    program = PevProgram.objects.filter(code=data.get("code")).first() or PevProgram(code=data.get("code"))
    return program, _save_if_changed(program, values, PROGRAM_FIELDS, where, "program", actor_label)


def _upsert_plan(program: PevProgram, data: dict, tariffs: dict, where: str, actor_label: str) -> bool:
    values = {f: data[f] for f in PLAN_FIELDS if f in data and f not in {"program", "tariff"}}
    values["program"] = program
    try:
        values["tariff"] = tariffs[data.get("tariff")]
        eligible = [tariffs[code] for code in data.get("eligible_tariffs", [])]
    except KeyError as exc:
        raise ProgramFileError(
            f"{where}: no tariff with code {exc.args[0]!r} (import the tariff first)"
        ) from None
    plan = ServicePlan.objects.filter(code=data.get("code")).first() or ServicePlan(code=data.get("code"))
    changed = _save_if_changed(plan, values, PLAN_FIELDS, where, "plan", actor_label)
    if set(plan.eligible_tariffs.all()) != set(eligible):
        before = sorted(t.code for t in plan.eligible_tariffs.all())
        plan.eligible_tariffs.set(eligible)
        record(
            action="plan.eligibility_changed",
            target=plan,
            channel=Channel.ADMIN,
            actor_label=actor_label,
            before={"eligible_tariffs": before},
            after={"eligible_tariffs": sorted(t.code for t in eligible)},
        )
        changed = True
    return changed


def _save_if_changed(obj, values: dict, fields: list[str], where: str, kind: str, actor_label: str) -> bool:
    try:
        return save_audited(
            obj, values, fields=fields, kind=kind, channel=Channel.ADMIN, actor_label=actor_label
        )
    except ValidationError as exc:
        problems = "; ".join(f"{where}.{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
        raise ProgramFileError(problems) from None
