"""python manage.py build_holidays [--years-ahead N] — what the monthly beat task does, on demand."""

from django.core.management.base import BaseCommand

from billing.holidays import YEARS_AHEAD, extend_calendars


class Command(BaseCommand):
    help = "Build every holiday calendar's rows from its first year through N years after this one."

    def add_arguments(self, parser):
        parser.add_argument("--years-ahead", type=int, default=YEARS_AHEAD)

    def handle(self, *args, years_ahead, **options):
        changed = extend_calendars(years_ahead=years_ahead)
        self.stdout.write(f"{changed} holiday row(s) added or removed")
