"""`python manage.py export_bills --period YYYY-MM --format csv|json` (issue 6; docs/billing.md, "Export"):
every issued bill of the month with each line's quantity, unit price, unrounded and rounded amount, as exact
decimals; the lines add up to the total; text cells are safe to open in a spreadsheet."""

import csv
import datetime as dt
import io
import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from billing.bills import bill_premises
from billing.exports import bill_records
from billing.models import Bill, BillHold, BillLine
from tests.billing.billing_homes import BilledHome, local
from tests.factories import PremiseFactory

pytestmark = pytest.mark.django_db
MARCH = dt.date(2026, 3, 1)
NOW = dt.datetime(2026, 4, 2, tzinfo=dt.UTC)
COLUMNS = [
    "account",
    "premise",
    "period",
    "bill_total",
    "estimated",
    "line",
    "kind",
    "description",
    "quantity",
    "unit",
    "unit_price",
    "amount_unrounded",
    "amount",
]


@pytest.fixture
def march_bill(sce_programs, make_device) -> Bill:
    """The worked example of docs/billing.md: a complete March with one EV charge, $490.02."""
    home = BilledHome(make_device)
    home.premise_reads(local(2026, 3, 1), local(2026, 4, 1))
    home.session(local(2026, 3, 10, 1), local(2026, 3, 10, 3))
    bill_premises([home.premise.pk], MARCH, now=NOW)
    return Bill.objects.get()


def issued(premise=None, *, lines, period=MARCH, estimated=False) -> Bill:
    """A bill written directly; a line is (kind, description, quantity, unit, price, unrounded, amount)."""
    premise = premise or PremiseFactory()
    bill = Bill.objects.create(
        account=premise.account,
        premise=premise,
        period=period,
        starts_at=local(period.year, period.month, 1),
        ends_at=local(period.year, period.month + 1, 1),
        total=sum(Decimal(line[6]) for line in lines),
        estimated=estimated,
        issued_at=NOW,
    )
    BillLine.objects.bulk_create(
        BillLine(
            bill=bill,
            position=position,
            kind=kind,
            description=description,
            quantity=Decimal(quantity),
            unit=unit,
            unit_price=Decimal(price) if price else None,
            amount_unrounded=Decimal(unrounded),
            amount=Decimal(amount),
        )
        for position, (kind, description, quantity, unit, price, unrounded, amount) in enumerate(lines, 1)
    )
    return bill


BASIC = ("fixed_charge", "Basic charge", "31", "day", "0.794", "24.614", "24.61")


def export(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("export_bills", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def csv_export(*args) -> list[dict]:
    text, _ = export("--period", "2026-03", *args)
    reader = csv.DictReader(io.StringIO(text))
    assert reader.fieldnames == COLUMNS
    return list(reader)


def test_it_exports_one_csv_row_per_line_with_exact_decimals(march_bill):
    rows = csv_export()

    assert len(rows) == 6
    assert {row["account"] for row in rows} == {march_bill.account.number}
    assert {row["premise"] for row in rows} == {march_bill.premise.premise_id}
    assert {(row["period"], row["bill_total"], row["estimated"]) for row in rows} == {
        ("2026-03", "490.02", "false")
    }
    assert [row["line"] for row in rows] == ["1", "2", "3", "4", "5", "6"]
    by_description = {row["description"]: row for row in rows}
    assert by_description["PEV charging, Winter Off-Peak"] == {
        **by_description["PEV charging, Winter Off-Peak"],
        "kind": "pev_energy",
        "quantity": "14.400",
        "unit": "kWh",
        "unit_price": "0.25362",
        "amount_unrounded": "3.6521280000",
        "amount": "3.65",
    }
    assert by_description["EV Submeter Credit"] == {
        **by_description["EV Submeter Credit"],
        "kind": "credit",
        "quantity": "31.000",
        "unit": "day",
        "unit_price": "-0.15200",  # a negative number stays a number
        "amount_unrounded": "-4.7120000000",
        "amount": "-4.71",
    }
    assert sum(Decimal(row["amount"]) for row in rows) == Decimal("490.02")
    for row in rows:
        unrounded = Decimal(row["amount_unrounded"])
        assert Decimal(row["amount"]) == unrounded.quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")


def test_it_exports_json_bills_with_their_lines(march_bill):
    text, err = export("--period", "2026-03", "--format", "json")

    (bill,) = json.loads(text)
    assert err == ""
    assert set(bill) == {"account", "premise", "period", "total", "estimated", "issued_at", "lines"}
    assert (bill["account"], bill["premise"], bill["period"]) == (
        march_bill.account.number,
        march_bill.premise.premise_id,
        "2026-03",
    )
    assert (bill["total"], bill["estimated"], bill["issued_at"]) == ("490.02", False, "2026-04-02T00:00:00Z")
    assert [line["position"] for line in bill["lines"]] == [1, 2, 3, 4, 5, 6]
    pev = next(line for line in bill["lines"] if line["kind"] == "pev_energy")
    assert pev == {
        "position": pev["position"],
        "kind": "pev_energy",
        "description": "PEV charging, Winter Off-Peak",
        "tariff": "SCE-TOU-D-PRIME",
        "period_label": "Winter Off-Peak",
        "quantity": "14.400",
        "unit": "kWh",
        "unit_price": "0.25362",
        "amount_unrounded": "3.6521280000",
        "amount": "3.65",
    }
    assert sum(Decimal(line["amount"]) for line in bill["lines"]) == Decimal(bill["total"])
    assert all(isinstance(line[key], str) for line in bill["lines"] for key in ("quantity", "amount"))


def test_it_writes_zero_without_an_exponent_and_a_missing_unit_price_as_empty(db):
    issued(
        lines=[
            BASIC,
            ("minimum_charge", "Minimum charge", "1", "month", None, "0", "0.00"),
        ]
    )

    rows = csv_export()
    (bill,) = json.loads(export("--period", "2026-03", "--format", "json")[0])

    assert (rows[1]["unit_price"], rows[1]["amount_unrounded"], rows[1]["amount"]) == (
        "",
        "0.0000000000",
        "0.00",
    )
    assert (bill["lines"][1]["unit_price"], bill["lines"][1]["amount_unrounded"]) == (None, "0.0000000000")
    assert bill["lines"][1]["tariff"] is None


def test_it_defuses_spreadsheet_formulas_in_text_cells(db):
    issued(
        lines=[
            BASIC,
            ("credit", '=HYPERLINK("https://evil.example","Refund")', "1", "month", "-5", "-5", "-5.00"),
            ("adjustment", "@SUM(A1:A9)", "1", "each", "2", "2", "2.00"),
        ]
    )

    rows = csv_export()
    (bill,) = json.loads(export("--period", "2026-03", "--format", "json")[0])

    assert [row["description"] for row in rows] == [
        "Basic charge",
        '\'=HYPERLINK("https://evil.example","Refund")',
        "'@SUM(A1:A9)",
    ]
    assert (rows[1]["unit_price"], rows[1]["amount"]) == ("-5.00000", "-5.00")
    assert bill["lines"][1]["description"] == '=HYPERLINK("https://evil.example","Refund")'  # JSON is data


def test_it_exports_only_the_months_bills_in_account_and_premise_order(db):
    later = issued(PremiseFactory(premise_id="P-B"), lines=[BASIC], estimated=True)
    earlier = issued(PremiseFactory(premise_id="P-A", account=later.account), lines=[BASIC, BASIC])
    issued(lines=[BASIC], period=dt.date(2026, 2, 1))

    rows = csv_export()

    assert [(row["premise"], row["line"]) for row in rows] == [("P-A", "1"), ("P-A", "2"), ("P-B", "1")]
    assert [row["estimated"] for row in rows] == ["false", "false", "true"]
    assert {row["bill_total"] for row in rows if row["premise"] == "P-A"} == {str(earlier.total)}


def test_it_streams_bills_in_chunks_without_a_query_per_bill(db, django_assert_max_num_queries):
    for _ in range(12):
        issued(lines=[BASIC, BASIC, BASIC])

    with django_assert_max_num_queries(2):
        records = list(bill_records(MARCH))
    with django_assert_max_num_queries(1 + 3):  # the bills, then each chunk's lines
        chunked = list(bill_records(MARCH, chunk_size=5))

    assert len(records) == 12
    assert chunked == records
    assert all(len(record["lines"]) == 3 for record in records)


def test_it_writes_to_a_file(march_bill, tmp_path):
    path = tmp_path / "bills.csv"

    out, _ = export("--period", "2026-03", "--output", str(path))

    assert out == ""
    content = path.read_bytes()
    assert content.startswith(b"account,premise,period,bill_total,")
    assert content.count(b"\r\n") == 7  # RFC 4180: the header and six lines


def test_it_leaves_no_half_written_file_when_the_export_fails(db, tmp_path, monkeypatch):
    issued(lines=[BASIC])
    path = tmp_path / "bills.csv"

    def failing(period):
        yield from bill_records(period)
        raise OSError("connection lost")

    monkeypatch.setattr("billing.exports.bill_records", failing)
    with pytest.raises(OSError, match="connection lost"):
        export("--period", "2026-03", "--output", str(path))

    assert list(tmp_path.iterdir()) == []


def test_it_exports_an_empty_month_with_a_note(db):
    csv_text, csv_err = export("--period", "1999-01")
    json_text, json_err = export("--period", "1999-01", "--format", "json")

    assert csv_text == ",".join(COLUMNS) + "\r\n"
    assert json.loads(json_text) == []
    assert csv_err == json_err == "note: no bills issued for 1999-01; the export is empty\n"


def test_it_notes_premises_held_for_review(db):
    issued(lines=[BASIC])
    BillHold.objects.create(premise=PremiseFactory(), period=MARCH, reason="missing revenue-meter data")

    _, err = export("--period", "2026-03")

    assert "1 premise(s) held for CSR review for 2026-03 are not billed yet" in err


@pytest.mark.parametrize("period", ["2026-3", "2026-13", "2026-00", "March", "2026-03-01", ""])
def test_it_refuses_a_period_that_is_not_a_month(db, period):
    with pytest.raises(CommandError, match="YYYY-MM"):
        export("--period", period)


def test_it_requires_a_period_and_a_known_format(db):
    with pytest.raises(CommandError):
        export()
    with pytest.raises(CommandError):
        export("--period", "2026-03", "--format", "xml")
