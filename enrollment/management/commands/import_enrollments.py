"""`python manage.py import_enrollments FILE.csv [--skip-bad]`: PEVs enrolled in bulk (migration, dealers)."""

from django.core.management.base import CommandError

from enrollment.enrollment_import import (
    EnrollmentImportConflict,
    EnrollmentImportResult,
    import_enrollment_rows,
    parse_enrollment_file,
)
from pevportal.importing import ImportCommand


class Command(ImportCommand):
    help = (
        "Enroll PEVs from a CSV file (columns: account_number, premise_id, vin, program_code, plan_code, "
        "guest_charging, allow_roaming; optional guest_vins, effective_date) with the wizard's validation. "
        "Bad rows are reported as 'line N: column: reason'; any bad row → exit 1 and nothing written, "
        "unless --skip-bad."
    )

    def parse(self, path, progress):
        return parse_enrollment_file(path, progress)

    def apply(self, parsed, path):
        try:
            return import_enrollment_rows(parsed, filename=path.name)
        except EnrollmentImportConflict as exc:
            for error in exc.errors:
                self.stderr.write(str(error))
            raise CommandError(
                f"{path}: the database changed while importing; nothing imported (run it again)", returncode=1
            ) from None

    def summary(self, result: EnrollmentImportResult) -> str:
        if not result.changed and not result.rejected_rows:
            return "no changes: every row matches the database"
        return (
            f"enrollments: {result.enrollments_created} created; vehicles: {result.pevs_created} new in the "
            f"registry; rows unchanged: {result.unchanged_rows}; rows rejected: {result.rejected_rows}"
        )
