"""Exporting a month's issued bills line by line (issue 6; docs/billing.md, "Export"), for the CIS, the
print shop or an auditor: `python manage.py export_bills --period YYYY-MM --format json|csv`.

Bills stream from the database in chunks, each chunk with its lines in one more query (a prefetch), so a
month of a million premises neither loads into memory nor issues a query per bill. Amounts are written as
the exact decimals stored — never through a float.
"""

import csv
import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal

from django.db.models import Prefetch

from billing.models import Bill, BillHold, BillLine
from pevportal.csvexport import defuse_formula

CHUNK_SIZE = 500

CSV_COLUMNS = [
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

Write = Callable[[str], object]


def bills_of(period: dt.date):
    """The month's issued bills with their account, premise and lines (lines in position order)."""
    lines = BillLine.objects.select_related("tariff").order_by("position")
    return (
        Bill.objects.filter(period=period.replace(day=1))
        .select_related("account", "premise")
        .prefetch_related(Prefetch("lines", queryset=lines))
        .order_by("account__number", "premise__premise_id", "pk")
    )


def bill_records(period: dt.date, *, chunk_size: int = CHUNK_SIZE) -> Iterator[dict]:
    """One JSON-ready record per bill of the month, decimals as strings (exact, never in exponent form)."""
    for bill in bills_of(period).iterator(chunk_size=chunk_size):
        yield {
            "account": bill.account.number,
            "premise": bill.premise.premise_id,
            "period": f"{bill.period:%Y-%m}",
            "total": _decimal(bill.total),
            "estimated": bill.estimated,
            "issued_at": bill.issued_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
            "lines": [
                {
                    "position": line.position,
                    "kind": line.kind,
                    "description": line.description,
                    "tariff": line.tariff.code if line.tariff else None,
                    "period_label": line.period_label,
                    "quantity": _decimal(line.quantity),
                    "unit": line.unit,
                    "unit_price": _decimal(line.unit_price),
                    "amount_unrounded": _decimal(line.amount_unrounded),
                    "amount": _decimal(line.amount),
                }
                for line in bill.lines.all()
            ],
        }


def csv_rows(records: Iterable[dict]) -> Iterator[list[str]]:
    """The header, then one row per bill line; text cells are defused against spreadsheet formulas."""
    yield CSV_COLUMNS
    for bill in records:
        for line in bill["lines"]:
            yield [
                defuse_formula(bill["account"]),
                defuse_formula(bill["premise"]),
                bill["period"],
                bill["total"],
                "true" if bill["estimated"] else "false",
                str(line["position"]),
                defuse_formula(line["kind"]),
                defuse_formula(line["description"]),
                line["quantity"],
                defuse_formula(line["unit"]),
                line["unit_price"] or "",
                line["amount_unrounded"],
                line["amount"],
            ]


def write_csv(records: Iterable[dict], write: Write) -> int:
    """Write the records as CSV (RFC 4180, CRLF line ends); returns how many bills were written."""
    counted = _Counted(records)
    writer = csv.writer(_Echo())
    for row in csv_rows(counted):
        write(writer.writerow(row))
    return counted.count


def write_json(records: Iterable[dict], write: Write) -> int:
    """Write the records as a JSON array, one bill per line; returns how many bills were written."""
    count = 0
    write("[")
    for record in records:
        write(("\n" if count == 0 else ",\n") + json.dumps(record, ensure_ascii=False))
        count += 1
    write("\n]\n" if count else "]\n")
    return count


def held_count(period: dt.date) -> int:
    """Premises whose month is held for a CSR: not billed, so not in the export."""
    return BillHold.objects.filter(period=period.replace(day=1), status=BillHold.Status.OPEN).count()


def _decimal(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


class _Echo:
    """A file-like object whose write hands the CSV line back, so rows can be streamed one by one."""

    def write(self, value: str) -> str:
        return value


class _Counted:
    """Iterates the records, counting them on the way (the CSV writer sees lines, not bills)."""

    def __init__(self, records: Iterable[dict]):
        self.records, self.count = records, 0

    def __iter__(self) -> Iterator[dict]:
        for record in self.records:
            self.count += 1
            yield record
