"""python manage.py import_tariff FILE.json [FILE.json …]: OpenEI URDB JSON, "pevportal" extension."""

from django.core.management.base import BaseCommand, CommandError

from billing.tariffs import import_tariff_file
from billing.urdb import TariffFileError


class Command(BaseCommand):
    help = (
        "Import tariff files (OpenEI URDB JSON, see docs/tariffs.md). A file with any error imports nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", metavar="FILE.json")

    def handle(self, *args, files, **options):
        failed = 0
        for path in files:
            try:
                result = import_tariff_file(path)
            except TariffFileError as exc:
                failed += 1
                for error in exc.errors:
                    self.stderr.write(f"{path}: {error}")
                self.stderr.write(f"{path}: nothing imported")
                continue
            if result.already_imported:
                self.stdout.write(f"{path}: already imported, nothing changed")
                continue
            for tariff in result.tariffs:
                self.stdout.write(
                    f"{path}: {tariff.code} from {tariff.effective_start:%Y-%m-%d}: {tariff.outcome}"
                )
            for warning in result.warnings:
                self.stdout.write(self.style.WARNING(f"{path}: warning: {warning}"))
            if result.ignored_fields:
                self.stdout.write(f"{path}: ignored URDB fields: {', '.join(result.ignored_fields)}")
        if failed:
            raise CommandError(f"{failed} of {len(files)} file(s) not imported", returncode=1)
