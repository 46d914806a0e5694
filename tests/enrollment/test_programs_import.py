"""`import_programs`: programmes and plans upserted by code, audited, all or nothing (Req 2, 10, 25)."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from enrollment.models import PevProgram, ServicePlan
from pevportal.models import AuditRecord
from tests.factories import TariffFactory


@pytest.fixture
def tariffs(db):
    return TariffFactory(code="EV-TOU"), TariffFactory(code="DEFAULT")


def document(**plan_overrides) -> dict:
    plan = {
        "code": "ev-night",
        "name": "EV Night",
        "summary": "Cheap nights.",
        "tariff": "EV-TOU",
        "eligible_tariffs": ["DEFAULT"],
        "eumd_interval_seconds": 900,
        "binding_timeout_seconds": 60,
        **plan_overrides,
    }
    return {
        "programs": [{"code": "ev-home", "name": "EV Home", "summary": "For EV drivers.", "plans": [plan]}]
    }


def run(tmp_path, doc) -> str:
    path = tmp_path / "programs.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    out = io.StringIO()
    call_command("import_programs", str(path), stdout=out)
    return out.getvalue()


def test_it_creates_programs_and_plans_with_their_tariffs(tmp_path, tariffs):
    out = run(tmp_path, document())

    assert "programs changed: 1; plans changed: 1" in out
    plan = ServicePlan.objects.select_related("program", "tariff").get(code="ev-night")
    assert plan.program.code == "ev-home"
    assert plan.tariff.code == "EV-TOU"
    assert [t.code for t in plan.eligible_tariffs.all()] == ["DEFAULT"]
    assert set(AuditRecord.objects.values_list("action", flat=True)) == {
        "program.created",
        "plan.created",
        "plan.eligibility_changed",
    }


def test_it_changes_nothing_when_imported_again(tmp_path, tariffs):
    run(tmp_path, document())
    audits = AuditRecord.objects.count()

    out = run(tmp_path, document())

    assert "programs changed: 0; plans changed: 0" in out
    assert AuditRecord.objects.count() == audits


def test_it_audits_a_changed_timeout_before_and_after(tmp_path, tariffs):
    run(tmp_path, document())

    run(tmp_path, document(binding_timeout_seconds=90))

    record = AuditRecord.objects.get(action="plan.updated")
    assert record.before["binding_timeout_seconds"] == 60
    assert record.after["binding_timeout_seconds"] == 90


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"tariff": "NOPE"}, "programs[0].plans[0]: no tariff with code 'NOPE'"),
        ({"eligible_tariffs": ["NOPE"]}, "programs[0].plans[0]: no tariff with code 'NOPE'"),
        ({"eumd_interval_seconds": 700}, "programs[0].plans[0]"),
        ({"binding_timeout_seconds": 0}, "programs[0].plans[0].binding_timeout_seconds"),
        ({"name": ""}, "programs[0].plans[0].name"),
    ],
)
def test_it_names_the_bad_field_and_writes_nothing(tmp_path, tariffs, overrides, message):
    with pytest.raises(CommandError) as excinfo:
        run(tmp_path, document(**overrides))

    assert message in str(excinfo.value)
    assert excinfo.value.returncode == 1
    assert not PevProgram.objects.exists()
    assert not AuditRecord.objects.exists()


def test_it_refuses_a_file_that_is_not_json(tmp_path, tariffs):
    path = tmp_path / "programs.json"
    path.write_text("{not json", encoding="utf-8")

    with pytest.raises(CommandError, match="not a UTF-8 JSON document"):
        call_command("import_programs", str(path))
