"""python manage.py run_billing --period YYYY-MM [--account NUMBER] [--queue]: bill a month that has ended."""

import datetime as dt
import re
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from billing import runs
from billing.models import BillingRun
from enrollment.models import UtilityAccount

PERIOD = re.compile(r"^(\d{4})-(\d{2})$")


class Command(BaseCommand):
    help = (
        "Bill a month (a calendar month in the tariffs' time zone, once it has ended) for every premise or "
        "one account's: in this process, or with --queue by the Celery workers. Premises billed or held "
        "already are skipped, so running a month again issues nothing twice."
    )

    def add_arguments(self, parser):
        parser.add_argument("--period", required=True, metavar="YYYY-MM", help="the month to bill")
        parser.add_argument("--account", metavar="NUMBER", help="only this utility account's premises")
        parser.add_argument(
            "--queue", action="store_true", help="open the run and leave it to the workers; print its id"
        )

    def handle(self, *args, period: str, account: str | None, queue: bool, **options):
        month = _month(period)
        utility_account = None
        if account is not None:
            utility_account = UtilityAccount.objects.filter(number=account).first()
            if utility_account is None:
                raise CommandError(f"--account: no utility account numbered {account!r}")
        try:
            run = runs.open_run(month, account=utility_account, trigger="command", now=timezone.now())
        except ValidationError as exc:
            raise CommandError(f"--period: {exc.messages[0]}") from None
        if queue:
            if not runs.queue_run(run.pk):
                raise CommandError(f"billing run {run.pk} could not be queued: is the broker (Redis) up?")
            self.stdout.write(f"billing run {run.pk} queued for {month:%Y-%m}")
            return
        self._run_here(run)

    def _run_here(self, run: BillingRun) -> None:
        """The same chunks the workers would bill, one after the other, with a progress bar on stderr."""
        chunks = runs.start_run(run.pk, now=timezone.now())
        run.refresh_from_db()
        with tqdm(
            total=run.premises_total,
            unit=" premises",
            desc=f"billing {run.period:%Y-%m}",
            file=sys.stderr,
            disable=None,
        ) as bar:
            for chunk in chunks:
                runs.bill_chunk(chunk.run_id, chunk.premise_ids, chunk.period, now=timezone.now())
                bar.update(len(chunk.premise_ids))
        run.refresh_from_db()
        skipped = run.premises_done - run.bills_issued - run.bills_held
        self.stdout.write(f"issued: {run.bills_issued}; held: {run.bills_held}; skipped: {skipped}")
        if run.status != BillingRun.Status.DONE:
            for error in runs.run_errors(run):
                where = (
                    f"premises {error.first_premise}–{error.last_premise} ({error.premises}): "
                    if error.premises
                    else ""
                )
                self.stderr.write(f"{where}{error.text}")
            missing = run.premises_total - run.premises_done
            raise CommandError(f"billing run {run.pk}: {missing} premise(s) not billed, see the errors above")


def _month(value: str) -> dt.date:
    match = PERIOD.match(value)
    if match is None or not 1 <= int(match[2]) <= 12:
        raise CommandError(f"--period must be a month as YYYY-MM, e.g. 2025-06; got {value!r}")
    return dt.date(int(match[1]), int(match[2]), 1)
