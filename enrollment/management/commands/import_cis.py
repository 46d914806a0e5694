"""`python manage.py import_cis FILE.csv [--skip-bad]`: customers, accounts and premises from the CIS."""

from enrollment.cis import ImportResult, import_cis_rows, parse_cis_file
from pevportal.importing import ImportCommand


class Command(ImportCommand):
    help = (
        "Upsert customers, accounts and premises from a CIS extract (columns: account_number, customer_name, "
        "email, phone, premise_id, service_address, postal_code, meter_id, feeder_id, default_tariff_code; "
        "optional customer_id). Bad rows are reported as 'line N: column: reason'; any bad row → exit 1 "
        "and nothing written, unless --skip-bad."
    )

    def parse(self, path, progress):
        return parse_cis_file(path, progress)

    def apply(self, parsed, path):
        return import_cis_rows(parsed, filename=path.name)

    def summary(self, result: ImportResult) -> str:
        if not result.changed and not result.rejected_rows:
            return "no changes: every row matches the database"
        parts = [
            f"{label}: {result.created.get(kind, 0)} created, {result.updated.get(kind, 0)} updated"
            for kind, label in (
                ("customer", "customers"),
                ("utilityaccount", "accounts"),
                ("premise", "premises"),
            )
        ]
        return (
            "; ".join(parts)
            + f"; rows unchanged: {result.unchanged_rows}; rows rejected: {result.rejected_rows}"
        )
