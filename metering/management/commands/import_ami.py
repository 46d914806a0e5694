"""`python manage.py import_ami FILE.csv [--skip-bad]`: revenue-meter interval reads (docs/metering.md)."""

from metering.ami import AmiResult, import_ami_rows, parse_ami_file
from pevportal.importing import ImportCommand


class Command(ImportCommand):
    help = (
        "Store revenue-meter interval reads from an AMI head-end file (columns: meter_id, interval_start "
        "as YYYY-MM-DDTHH:MM:SSZ, interval_seconds, wh; optional quality). Each interval is stored once: "
        "identical rows already stored are duplicates, different values are kept as revisions for CSR "
        "review. Bad rows are reported as 'line N: column: reason'; any bad row → exit 1 and nothing "
        "written, unless --skip-bad."
    )

    def parse(self, path, progress):
        return parse_ami_file(path, progress)

    def apply(self, parsed, path):
        return import_ami_rows(parsed, filename=path.name)

    def summary(self, result: AmiResult) -> str:
        return (
            f"accepted: {result.accepted}; duplicates: {result.duplicates}; "
            f"conflicting: {result.conflicts} (kept for review); rejected: {result.rejected}"
        )
