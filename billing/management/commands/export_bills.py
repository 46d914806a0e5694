"""python manage.py export_bills --period YYYY-MM [--format csv|json] [--output FILE]: a month's issued bills,
line by line (docs/billing.md, "Export")."""

import datetime as dt
import functools
import re
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from billing import exports

PERIOD = re.compile(r"(\d{4})-(\d{2})")


class Command(BaseCommand):
    help = (
        "Export the issued bills of a month: account, premise, period, and each line with quantity, unit "
        "price, unrounded and rounded amount, and the totals (docs/billing.md)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--period", required=True, metavar="YYYY-MM", help="The month billed.")
        parser.add_argument("--format", choices=["csv", "json"], default="csv", help="Default: csv.")
        parser.add_argument("--output", metavar="FILE", help="Write to FILE instead of standard output.")

    def handle(self, *args, **options):
        period, output = options["period"], options["output"]
        month = _month(period)
        records = exports.bill_records(month)
        write_records = exports.write_csv if options["format"] == "csv" else exports.write_json
        if output:
            # Written beside the target and renamed at the end, so a failed export leaves no half a file.
            # newline="": the CSV writer ends its lines with CRLF itself (RFC 4180).
            partial = Path(f"{output}.partial")
            try:
                with partial.open("w", encoding="utf-8", newline="") as file:
                    count = write_records(records, file.write)
                partial.replace(output)
            finally:
                partial.unlink(missing_ok=True)
        else:
            count = write_records(records, functools.partial(self.stdout.write, ending=""))
        if not count:
            self.stderr.write(f"note: no bills issued for {period}; the export is empty")
        held = exports.held_count(month)
        if held:
            self.stderr.write(f"note: {held} premise(s) held for CSR review for {period} are not billed yet")


def _month(text: str) -> dt.date:
    match = PERIOD.fullmatch(text)
    if not match or not 1 <= int(match[2]) <= 12:
        raise CommandError(f"--period must be a month as YYYY-MM (e.g. 2026-03), not {text!r}")
    return dt.date(int(match[1]), int(match[2]), 1)
