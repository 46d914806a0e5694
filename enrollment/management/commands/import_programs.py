"""`python manage.py import_programs FILE.json`: configure PEV programmes and plans (docs/programs.md)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from enrollment.programs import ProgramFileError, import_programs_file


class Command(BaseCommand):
    help = "Upsert PEV programmes and their service plans by code from a JSON file; all or nothing."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)

    def handle(self, *args, file: Path, **options):
        if not file.is_file():
            raise CommandError(f"{file}: no such file")
        try:
            result = import_programs_file(file)
        except ProgramFileError as exc:
            raise CommandError(f"{exc}; nothing imported", returncode=1) from None
        self.stdout.write(
            f"programs changed: {result.programs_changed}; plans changed: {result.plans_changed}"
        )
