"""Importing URDB files: a real OpenEI export, the demo tariffs, identical re-imports and new versions."""

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.core.management import call_command

from billing.models import CreditApplies, PeriodKind, Tariff, TariffVersion
from billing.tariffs import Outcome, import_tariff_file
from billing.urdb import TariffFileError
from pevportal.models import AuditRecord, Channel, ImportRun

from .conftest import DEMO_TARIFFS, FIXTURES


@pytest.mark.django_db
def test_it_imports_a_real_openei_record_and_lists_the_fields_it_ignores(capsys):
    call_command("import_tariff", str(FIXTURES / "urdb-pge-bev-2-s.json"))

    out = capsys.readouterr().out
    assert "urdb-6757525f259975f54b0eccbf from 2024-10-01: created" in out
    assert (
        "ignored URDB fields: approved, country, demandrateunit, demandreactivepowercharge, demandunits, "
        in out
    )
    for field in ("revisions", "supersedes", "flatdemandstructure", "energycomments", "sourceparent"):
        assert field in out
    tariff = Tariff.objects.get(code="urdb-6757525f259975f54b0eccbf")
    version = tariff.versions.get()
    assert tariff.utility.name == "Pacific Gas & Electric Co"
    assert version.fixed_charge == Decimal("447.44")
    assert version.get_fixed_charge_unit_display() == "$/month"
    assert [(p.label, p.kind, p.tiers.get().price) for p in version.periods.all()] == [
        ("Off-Peak", PeriodKind.OFF_PEAK, Decimal("0.18081")),
        ("Super Off-Peak", PeriodKind.SUPER_OFF_PEAK, Decimal("0.15754")),
        ("Peak", PeriodKind.ON_PEAK, Decimal("0.39404")),
    ]
    assert [s.name for s in version.seasons.all()] == ["All year"]
    # Without our extension the importer says what it had to assume.
    assert "no pevportal.holiday_calendar" in out


@pytest.mark.django_db
def test_it_imports_the_demo_tariffs_with_their_sources():
    for path in sorted(DEMO_TARIFFS.glob("*.json")):
        import_tariff_file(path)

    prime = Tariff.objects.get(code="SCE-TOU-D-PRIME")
    default = Tariff.objects.get(code="SCE-TOU-D-4-9PM")
    assert prime.utility == default.utility
    assert {v.holiday_calendar.code for v in TariffVersion.objects.all()} == {"sce-tou"}
    for tariff in (prime, default):
        assert [
            (v.effective_start, v.effective_end) for v in tariff.versions.order_by("effective_start")
        ] == [
            (dt.date(2026, 1, 1), dt.date(2026, 6, 1)),
            (dt.date(2026, 6, 1), None),
        ]
    january, june = prime.versions.order_by("effective_start")
    assert january.fixed_charge == june.fixed_charge == Decimal("0.794")
    assert january.baseline_credit is None
    assert "historical-rate-schedules-for-2026" in january.source_url
    assert "Cal. PUC Sheet 90941-E, Advice 5725-E" in january.source_notes
    assert (
        june.source_url
        == "https://www.sce.com/regulatory/regulatory-information/tariff-books/rates-pricing-choices"
    )
    assert "Cal. PUC Sheet 91200-E, Advice 5829-E" in june.source_notes
    assert "MCAM" in june.source_notes
    assert "check the figures against the PDF" in june.source_notes
    assert prime.source_url == june.source_url


@pytest.mark.django_db
def test_it_audits_what_an_import_creates():
    import_tariff_file(DEMO_TARIFFS / "sce-tou-d-prime.json")

    actions = set(AuditRecord.objects.values_list("action", flat=True))
    assert {
        "tariff.created",
        "tariff_version.created",
        "utility.created",
        "holiday_calendar.created",
    } <= actions
    assert "holiday.added" in actions
    assert set(AuditRecord.objects.values_list("channel", flat=True)) <= {Channel.IMPORT, Channel.SYSTEM}


@pytest.mark.django_db
def test_it_changes_nothing_when_the_same_file_is_imported_again(capsys):
    path = DEMO_TARIFFS / "sce-tou-d-prime.json"
    call_command("import_tariff", str(path))
    counts = (AuditRecord.objects.count(), TariffVersion.objects.count(), ImportRun.objects.count())

    call_command("import_tariff", str(path))

    assert "already imported, nothing changed" in capsys.readouterr().out
    assert (AuditRecord.objects.count(), TariffVersion.objects.count(), ImportRun.objects.count()) == counts


@pytest.mark.django_db
def test_it_changes_nothing_when_the_same_numbers_come_in_another_file(write_json, record):
    import_tariff_file(write_json(record, "first.json"))
    audits = AuditRecord.objects.count()
    record["description"] = "the same numbers, re-exported"

    result = import_tariff_file(write_json(record, "second.json"))

    assert [t.outcome for t in result.tariffs] == [Outcome.UNCHANGED]
    assert AuditRecord.objects.count() == audits
    assert TariffVersion.objects.count() == 1


@pytest.mark.django_db
def test_it_adds_a_version_and_closes_the_previous_one(write_json, record):
    import_tariff_file(write_json(record, "2025.json"))
    record["startdate"] = 1767225600  # 2026-01-01
    record["energyratestructure"][1] = [{"rate": 0.55}]

    result = import_tariff_file(write_json(record, "2026.json"))

    assert [t.outcome for t in result.tariffs] == [Outcome.NEW_VERSION]
    first, second = TariffVersion.objects.order_by("effective_start")
    assert (first.effective_start, first.effective_end) == (dt.date(2025, 1, 1), dt.date(2026, 1, 1))
    assert (second.effective_start, second.effective_end) == (dt.date(2026, 1, 1), None)
    assert AuditRecord.objects.filter(action="tariff_version.closed", target_id=str(first.pk)).exists()


@pytest.mark.django_db
def test_it_refuses_different_numbers_for_an_existing_start_date(write_json, record):
    import_tariff_file(write_json(record, "first.json"))
    record["energyratestructure"][1] = [{"rate": 0.99}]

    with pytest.raises(
        TariffFileError, match="startdate: TEST-TOU already has a different version starting 2025-01-01"
    ):
        import_tariff_file(write_json(record, "corrected.json"))
    assert TariffVersion.objects.get().periods.get(index=1).tiers.get().rate == Decimal("0.5")


@pytest.mark.django_db
def test_it_rolls_back_the_whole_file_when_a_later_record_fails(write_json, record):
    import_tariff_file(write_json(record, "first.json"))
    audits = AuditRecord.objects.count()
    newer = {**record, "startdate": 1767225600}
    conflicting = {**record, "energyratestructure": [[{"rate": 0.1}], [{"rate": 0.2}], [{"rate": 0.3}]]}

    with pytest.raises(TariffFileError):
        import_tariff_file(write_json({"items": [newer, conflicting]}, "both.json"))

    assert TariffVersion.objects.count() == 1
    assert TariffVersion.objects.get().effective_end is None
    assert AuditRecord.objects.count() == audits


@pytest.mark.django_db
def test_it_imports_every_record_of_a_urdb_api_answer_in_date_order(write_json, record):
    later = {
        **record,
        "startdate": 1767225600,
        "energyratestructure": [[{"rate": 0.3}], [{"rate": 0.6}], [{"rate": 0.4}]],
    }

    import_tariff_file(write_json({"items": [later, record]}))

    assert list(
        TariffVersion.objects.order_by("effective_start").values_list("effective_end", flat=True)
    ) == [
        dt.date(2026, 1, 1),
        None,
    ]


@pytest.mark.django_db
def test_it_fills_in_a_tariff_the_cis_named_before_its_rate_sheet(write_json, record):
    Tariff.objects.create(code="TEST-TOU", name="From the CIS")

    import_tariff_file(write_json(record))

    tariff = Tariff.objects.get(code="TEST-TOU")
    assert tariff.name == "Test TOU"
    assert tariff.utility.code == "test-electric-co"
    assert AuditRecord.objects.filter(action="tariff.updated", target_id=str(tariff.pk)).exists()


@pytest.mark.django_db
def test_it_stores_the_extension_tiers_credits_and_critical_peak_days(write_json, record):
    record["energyratestructure"][0] = [{"rate": 0.2, "max": 300}, {"rate": 0.3}]
    record["pevportal"]["seasons"][0]["baseline_kwh_per_day"] = 17.2
    record["pevportal"]["baseline"] = {"credit_per_kwh": "0.10108"}
    record["pevportal"]["credits"] = [{"name": "EV submeter credit", "amount": "0.05", "unit": "$/day"}]
    record["pevportal"]["critical_peak"] = {
        "adder_per_kwh": 0.8,
        "start_hour": 16,
        "end_hour": 21,
        "event_days": ["2025-08-14"],
    }

    import_tariff_file(write_json(record))

    version = TariffVersion.objects.get()
    assert [(t.price, t.max_kwh) for t in version.periods.get(index=0).tiers.all()] == [
        (Decimal("0.2"), Decimal(300)),
        (Decimal("0.3"), None),
    ]
    assert version.seasons.get(name="Summer").baseline_kwh_per_day == Decimal("17.2")
    assert version.baseline_credit == Decimal("0.10108")
    assert version.credits.get().amount == Decimal("0.05")
    assert list(version.critical_peak_days.values_list("date", flat=True)) == [dt.date(2025, 8, 14)]


@pytest.mark.django_db
def test_it_ranks_the_periods_of_a_real_record_without_labels_by_price(write_json, capsys):
    data = json.loads((FIXTURES / "urdb-pge-bev-2-s.json").read_text())
    del data["items"][0]["energytoulabels"]

    call_command("import_tariff", str(write_json(data, "unlabelled.json")))

    version = Tariff.objects.get(code="urdb-6757525f259975f54b0eccbf").versions.get()
    assert [(p.label, p.kind) for p in version.periods.all()] == [
        ("Period 1", PeriodKind.MID_PEAK),  # $0.18081
        ("Period 2", PeriodKind.OFF_PEAK),  # $0.15754, the cheapest
        ("Period 3", PeriodKind.ON_PEAK),  # $0.39404, the dearest
    ]
    out = capsys.readouterr().out
    assert (
        "warning: urdb-6757525f259975f54b0eccbf: no energytoulabels: period kinds assumed (ranked by price): "
        "Period 1 mid-peak, Period 2 off-peak, Period 3 on-peak; give pevportal.period_kinds to set them"
    ) in out


@pytest.mark.django_db
def test_it_calls_the_one_period_of_an_unlabelled_record_flat(write_json, record):
    record.update(
        energyratestructure=[[{"rate": 0.3}]],
        energyweekdayschedule=[[0] * 24] * 12,
        energyweekendschedule=[[0] * 24] * 12,
    )
    del record["energytoulabels"]
    del record["pevportal"]["seasons"]

    result = import_tariff_file(write_json(record))

    assert [(p.label, p.kind) for p in TariffVersion.objects.get().periods.all()] == [
        ("Period 1", PeriodKind.FLAT)
    ]
    assert result.warnings == [
        "TEST-TOU: no energytoulabels: period kinds assumed (one period): Period 1 flat; "
        "give pevportal.period_kinds to set them"
    ]


@pytest.mark.django_db
def test_it_records_the_file_name_without_its_folders(write_json, record):
    path = write_json(record, "tou.json")

    import_tariff_file(path)

    assert ImportRun.objects.get().filename == "tou.json"
    assert str(path.parent) not in ImportRun.objects.get().filename


@pytest.mark.django_db
def test_it_keeps_a_urdb_source_that_is_not_a_link_as_a_note(write_json, record):
    record["source"] = "Tariff book, sheet 12"

    result = import_tariff_file(write_json(record))

    version = TariffVersion.objects.get()
    assert version.source_url == ""
    assert "URDB source: Tariff book, sheet 12" in version.source_notes
    assert (
        "TEST-TOU: source 'Tariff book, sheet 12' is not an http(s) URL: kept in the notes" in result.warnings
    )


@pytest.mark.django_db
def test_it_stores_a_credit_for_submetered_ev_charging_only(write_json, record):
    record["pevportal"]["credits"] = [
        {"name": "EV Submeter Credit", "amount": "0.152", "unit": "$/day", "applies_to": "ev_submeter"},
        {"name": "Climate credit", "amount": "3", "unit": "$/month"},
    ]

    import_tariff_file(write_json(record))

    assert list(TariffVersion.objects.get().credits.values_list("name", "applies_to")) == [
        ("EV Submeter Credit", CreditApplies.EV_SUBMETER),
        ("Climate credit", CreditApplies.ALL),
    ]
