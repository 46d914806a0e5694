"""Billing runs (issue 6): a month is billed in chunks of premises, each chunk one transaction whose bills
and progress commit together; a chunk done twice counts once; a chunk that fails is recorded on the run
and the others go on; running a month again issues nothing twice; `manage.py run_billing`."""

import datetime as dt
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import OperationalError
from kombu.exceptions import OperationalError as BrokerError

from billing import bills, runs, tasks
from billing.models import Bill, BillHold, BillingRun
from enrollment.models import Premise
from pevportal.celery import app
from tests.billing.billing_homes import BilledHome, local
from tests.factories import PremiseFactory, UtilityAccountFactory

pytestmark = pytest.mark.django_db
MARCH = dt.date(2026, 3, 1)
APRIL_2 = dt.datetime(2026, 4, 2, tzinfo=dt.UTC)


@pytest.fixture
def homes(sce_programs, make_device, settings):
    """Five premises: two with a whole March of reads (billed), three with none (held)."""
    settings.BILLING_CHUNK_PREMISES = 2
    billed = [BilledHome(make_device) for _ in range(2)]
    for home in billed:
        home.premise_reads(local(2026, 3, 1), local(2026, 4, 1))
    tariff = billed[0].premise.default_tariff
    PremiseFactory.create_batch(3, default_tariff=tariff)
    return billed


def open_march(**options) -> BillingRun:
    return runs.open_run(MARCH, trigger="command", now=APRIL_2, **options)


def run_all(run: BillingRun, chunks=None) -> BillingRun:
    for chunk in runs.start_run(run.pk, now=APRIL_2) if chunks is None else chunks:
        runs.bill_chunk(chunk.run_id, chunk.premise_ids, chunk.period, now=APRIL_2)
    run.refresh_from_db()
    return run


def counts(run: BillingRun) -> tuple:
    run.refresh_from_db()
    return (run.status, run.premises_done, run.premises_total, run.bills_issued, run.bills_held)


def march_bills() -> list[tuple]:
    return list(Bill.objects.filter(period=MARCH).order_by("premise").values_list("premise", "total"))


# --- Chunks and progress -----------------------------------------------------------------------------


def test_it_splits_the_premises_into_chunks_in_id_order(homes):
    run = open_march()

    chunks = runs.start_run(run.pk, now=APRIL_2)

    ids = sorted(Premise.objects.values_list("pk", flat=True))
    assert [chunk.premise_ids for chunk in chunks] == [ids[0:2], ids[2:4], ids[4:5]]
    assert {chunk.period for chunk in chunks} == {MARCH}
    assert counts(run) == ("running", 0, 5, 0, 0)


def test_it_counts_each_chunk_as_it_commits_and_finishes_with_the_last(homes):
    run = open_march()
    first, second, third = runs.start_run(run.pk, now=APRIL_2)

    runs.bill_chunk(run.pk, first.premise_ids, MARCH, now=APRIL_2)
    assert counts(run) == ("running", 2, 5, 2, 0)
    runs.bill_chunk(run.pk, third.premise_ids, MARCH, now=APRIL_2)
    assert counts(run) == ("running", 3, 5, 2, 1)
    assert run.finished_at is None

    runs.bill_chunk(run.pk, second.premise_ids, MARCH, now=APRIL_2)

    assert counts(run) == ("done", 5, 5, 2, 3)
    assert run.finished_at is not None  # when the last chunk committed, by the database clock
    assert Bill.objects.filter(run=run).count() == 2
    assert BillHold.objects.filter(run=run, status="open").count() == 3


def test_it_counts_a_chunk_done_twice_once(homes):
    """A worker that dies after the chunk committed, before acknowledging it: the chunk comes again."""
    run = open_march()
    first, *rest = runs.start_run(run.pk, now=APRIL_2)
    runs.bill_chunk(run.pk, first.premise_ids, MARCH, now=APRIL_2)

    again = runs.bill_chunk(run.pk, first.premise_ids, MARCH, now=APRIL_2)

    assert (again.issued, again.held, again.skipped) == (0, 0, 2)
    assert counts(run) == ("running", 2, 5, 2, 0)
    run_all(run, rest)
    assert counts(run) == ("done", 5, 5, 2, 3)


def test_it_loses_nothing_when_a_chunk_dies_before_committing(homes, monkeypatch):
    run = open_march()
    first, *rest = runs.start_run(run.pk, now=APRIL_2)
    real = bills.bill_premises

    def dies(*args, **kwargs):
        real(*args, **kwargs)
        raise SystemExit("worker killed")  # not an Exception: nothing catches it, as with SIGKILL

    monkeypatch.setattr(bills, "bill_premises", dies)
    with pytest.raises(SystemExit):
        runs.bill_chunk(run.pk, first.premise_ids, MARCH, now=APRIL_2)
    assert counts(run) == ("running", 0, 5, 0, 0)
    assert not Bill.objects.exists()

    monkeypatch.setattr(bills, "bill_premises", real)
    run_all(run, [first, *rest])
    assert counts(run) == ("done", 5, 5, 2, 3)


def test_a_chunk_redone_after_committing_finishes_the_count(homes, monkeypatch):
    """The worker died between the chunk's commit and its recount: the redelivered chunk recounts."""
    run = open_march()
    *before, last = runs.start_run(run.pk, now=APRIL_2)
    run_all(run, before)
    real = runs.recount

    def dies(run_id, *, now):
        raise SystemExit("worker killed")

    monkeypatch.setattr(runs, "recount", dies)
    with pytest.raises(SystemExit):
        runs.bill_chunk(run.pk, last.premise_ids, MARCH, now=APRIL_2)
    assert counts(run) == ("running", 4, 5, 2, 3)  # its hold and counters committed, not its count

    monkeypatch.setattr(runs, "recount", real)
    runs.bill_chunk(run.pk, last.premise_ids, MARCH, now=APRIL_2)

    assert counts(run) == ("done", 5, 5, 2, 3)


def test_it_ignores_a_chunk_of_a_run_that_is_over(homes):
    run = run_all(open_march())

    assert runs.bill_chunk(run.pk, [homes[0].premise.pk], MARCH, now=APRIL_2) is None
    assert runs.bill_chunk(run.pk + 1, [homes[0].premise.pk], MARCH, now=APRIL_2) is None
    assert counts(run) == ("done", 5, 5, 2, 3)


def test_it_finishes_a_run_with_no_premises_at_once(db):
    run = open_march()

    assert runs.start_run(run.pk, now=APRIL_2) == []

    assert counts(run) == ("done", 0, 0, 0, 0)


def test_a_started_run_started_again_sends_only_the_premises_not_done(homes):
    """The start task redelivered after its worker died while sending the chunks."""
    run = open_march()
    first, *_ = runs.start_run(run.pk, now=APRIL_2)
    runs.bill_chunk(run.pk, first.premise_ids, MARCH, now=APRIL_2)

    again = runs.start_run(run.pk, now=APRIL_2)

    ids = sorted(Premise.objects.values_list("pk", flat=True))
    assert [chunk.premise_ids for chunk in again] == [ids[2:4], ids[4:5]]
    run_all(run, again)
    assert counts(run) == ("done", 5, 5, 2, 3)
    assert runs.start_run(run.pk, now=APRIL_2) == []


def test_it_bills_only_the_accounts_premises(homes):
    account = homes[1].premise.account

    run = run_all(open_march(account=account))

    assert counts(run) == ("done", 1, 1, 1, 0)
    assert list(Bill.objects.values_list("premise", flat=True)) == [homes[1].premise.pk]


# --- Errors --------------------------------------------------------------------------------------------


def test_it_records_a_failing_chunk_on_the_run_and_bills_the_others(homes, monkeypatch):
    run = open_march()
    chunks = runs.start_run(run.pk, now=APRIL_2)
    broken = chunks[1].premise_ids
    real = bills.bill_premises

    def bill_premises(premise_ids, period, **kwargs):
        if list(premise_ids) == broken:
            raise ValueError("no tariff version in force")
        return real(premise_ids, period, **kwargs)

    monkeypatch.setattr(bills, "bill_premises", bill_premises)

    run = run_all(run, chunks)

    assert counts(run) == ("failed", 3, 5, 2, 1)
    assert run.finished_at is not None
    labels = dict(Premise.objects.values_list("pk", "premise_id"))
    (error,) = runs.run_errors(run)
    assert (error.text, error.premises) == ("ValueError: no tariff version in force", 2)
    assert (error.first_premise, error.last_premise) == (labels[broken[0]], labels[broken[1]])
    assert not Bill.objects.filter(premise__in=broken).exists()
    assert not BillHold.objects.filter(premise__in=broken).exists()


def test_it_records_a_chunk_that_fails_twice_the_same_way_once(homes, monkeypatch):
    run = open_march()
    first, *_ = runs.start_run(run.pk, now=APRIL_2)
    monkeypatch.setattr(bills, "bill_premises", lambda *a, **k: 1 / 0)

    runs.bill_chunk(run.pk, first.premise_ids, MARCH, now=APRIL_2)
    runs.bill_chunk(run.pk, first.premise_ids, MARCH, now=APRIL_2)

    run.refresh_from_db()
    assert [e.text for e in runs.run_errors(run)] == ["ZeroDivisionError: division by zero"]
    assert run.status == "running"


def test_it_leaves_a_transient_database_error_to_the_retry(homes, monkeypatch):
    run = open_march()
    first, *_ = runs.start_run(run.pk, now=APRIL_2)

    def lost(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(bills, "bill_premises", lost)

    with pytest.raises(OperationalError):
        runs.bill_chunk(run.pk, first.premise_ids, MARCH, now=APRIL_2)
    run.refresh_from_db()
    assert run.errors == []


@pytest.fixture
def eager_retries():
    """apply() runs a task's retries at once, in this process, when its errors are not re-raised."""
    previous = app.conf.task_eager_propagates
    app.conf.task_eager_propagates = False
    yield
    app.conf.task_eager_propagates = previous


def test_the_task_retries_a_transient_error_and_then_bills_the_chunk(homes, monkeypatch, eager_retries):
    run = open_march()
    first, *_ = runs.start_run(run.pk, now=APRIL_2)
    real = bills.bill_premises
    failures = iter([OperationalError("connection reset"), OperationalError("connection reset")])

    def flaky(*args, **kwargs):
        for exc in failures:
            raise exc
        return real(*args, **kwargs)

    monkeypatch.setattr(bills, "bill_premises", flaky)

    tasks.bill_chunk.apply((run.pk, first.premise_ids, MARCH.isoformat()))

    assert counts(run) == ("running", 2, 5, 2, 0)


def test_the_task_records_the_chunk_once_out_of_retries(homes, monkeypatch, eager_retries):
    run = open_march()
    first, *_ = runs.start_run(run.pk, now=APRIL_2)
    calls = []

    def down(*args, **kwargs):
        calls.append(1)
        raise OperationalError("the database system is shutting down")

    monkeypatch.setattr(bills, "bill_premises", down)

    result = tasks.bill_chunk.apply((run.pk, first.premise_ids, MARCH.isoformat()))

    assert result.failed()
    assert len(calls) == 1 + tasks.bill_chunk.max_retries
    run.refresh_from_db()
    assert [(e.text, e.premises) for e in runs.run_errors(run)] == [
        ("OperationalError: the database system is shutting down", 2)
    ]


# --- Running a month again -----------------------------------------------------------------------------


def test_running_a_month_again_gives_the_same_bills(homes):
    run_all(open_march())
    first = march_bills()

    again = run_all(open_march())

    assert counts(again) == ("done", 5, 5, 0, 0)
    assert march_bills() == first
    assert Bill.objects.count() == 2
    assert BillHold.objects.filter(status="open").count() == 3


def test_running_a_month_again_bills_a_held_premise_whose_reads_came_in(homes, make_device):
    late = BilledHome(make_device)
    first = run_all(open_march())
    assert BillHold.objects.get(premise=late.premise).status == "open"
    late.premise_reads(local(2026, 3, 1), local(2026, 4, 1))

    again = open_march()
    chunks = runs.start_run(again.pk, now=APRIL_2)
    *before, last = chunks
    run_all(again, before)
    # The earlier run's hold does not count for this run until this run has billed that premise again.
    assert counts(again)[0] == "running"
    run_all(again, [last])

    assert counts(again) == ("done", 6, 6, 1, 0)
    assert Bill.objects.get(premise=late.premise).run == again
    assert BillHold.objects.get(premise=late.premise).status == "released"
    assert BillHold.objects.filter(status="open").values_list("run", flat=True).distinct().get() == again.pk
    assert counts(first) == ("done", 6, 6, 2, 4)


# --- Opening runs: the command, the beat ----------------------------------------------------------------


def test_it_refuses_a_month_that_is_not_over_in_the_tariffs_zone(homes):
    end_of_march_in_california = local(2026, 4, 1)

    with pytest.raises(ValidationError, match="America/Los_Angeles"):
        runs.open_run(MARCH, trigger="command", now=end_of_march_in_california - dt.timedelta(seconds=1))
    assert runs.open_run(MARCH, trigger="command", now=end_of_march_in_california).period == MARCH


def command(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("run_billing", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_command_bills_a_month_and_prints_a_summary(homes):
    out, _ = command("--period", "2026-03")

    assert out.splitlines()[-1] == "issued: 2; held: 3; skipped: 0"
    run = BillingRun.objects.get()
    assert (run.trigger, run.status, run.premises_done) == ("command", "done", 5)

    out, _ = command("--period", "2026-03")
    assert out.splitlines()[-1] == "issued: 0; held: 0; skipped: 5"


def test_the_command_bills_one_account(homes):
    out, _ = command("--period", "2026-03", "--account", homes[0].premise.account.number)

    assert out.splitlines()[-1] == "issued: 1; held: 0; skipped: 0"
    assert BillingRun.objects.get().account == homes[0].premise.account


@pytest.mark.parametrize("period", ["2026-13", "2026-3", "March", "2026-03-01"])
def test_the_command_refuses_a_malformed_period(db, period):
    with pytest.raises(CommandError, match="--period must be a month as YYYY-MM"):
        command("--period", period)
    assert not BillingRun.objects.exists()


def test_the_command_refuses_a_month_that_has_not_ended(homes):
    from django.utils import timezone

    this_month = f"{timezone.now():%Y-%m}"

    with pytest.raises(CommandError, match=f"--period: {this_month} has not ended yet in America/Los_An"):
        command("--period", this_month)
    assert not BillingRun.objects.exists()


def test_the_command_refuses_an_unknown_account(homes):
    UtilityAccountFactory(number="A-100")

    with pytest.raises(CommandError, match="no utility account numbered 'A-404'") as raised:
        command("--period", "2026-03", "--account", "A-404")
    assert raised.value.returncode == 1
    assert not BillingRun.objects.exists()


def test_the_command_exits_1_and_lists_the_errors_when_a_chunk_fails(homes, monkeypatch):
    monkeypatch.setattr(bills, "bill_premises", lambda *a, **k: 1 / 0)

    with pytest.raises(CommandError, match="5 premise\\(s\\) not billed") as raised:
        command("--period", "2026-03")

    assert raised.value.returncode == 1
    run = BillingRun.objects.get()
    assert run.status == "failed"
    assert len(run.errors) == 3


def test_the_command_leaves_the_run_to_the_workers_with_queue(homes, monkeypatch):
    sent = []
    monkeypatch.setattr(tasks.start_billing_run, "apply_async", lambda args, **kw: sent.append(args))

    out, _ = command("--period", "2026-03", "--queue")

    run = BillingRun.objects.get()
    assert out.strip() == f"billing run {run.pk} queued for 2026-03"
    assert sent == [(run.pk,)]
    assert run.status == "queued"


def test_the_command_fails_the_run_when_the_broker_is_down(homes, monkeypatch):
    def down(*args, **kwargs):
        raise BrokerError("Error 111 connecting to localhost:6379. Connection refused.")

    monkeypatch.setattr(tasks.start_billing_run, "apply_async", down)

    with pytest.raises(CommandError, match="could not be queued"):
        command("--period", "2026-03", "--queue")
    run = BillingRun.objects.get()
    assert run.status == "failed"
    assert "Connection refused" in run.errors[0]["error"]


@pytest.fixture
def eager_celery():
    """Tasks run in-process, as in the embedded default (CI's Redis run sends them to a broker)."""
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


def test_the_workers_bill_a_queued_run(homes, eager_celery):
    run = open_march()

    tasks.start_billing_run.apply((run.pk,))

    assert counts(run) == ("done", 5, 5, 2, 3)


def test_the_beat_opens_last_months_run_once(homes, monkeypatch, django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr(tasks.start_billing_run, "apply_async", lambda args, **kw: sent.append(args))
    beat = dt.datetime(2026, 4, 1, 11, 30, tzinfo=dt.UTC)

    with django_capture_on_commit_callbacks(execute=True):
        run = runs.open_monthly_run(beat)

    assert (run.period, run.account, run.trigger, run.status) == (MARCH, None, "beat", "queued")
    assert sent == [(run.pk,)]
    assert runs.open_monthly_run(beat + dt.timedelta(days=1)) is None
    assert BillingRun.objects.count() == 1


def test_the_beat_waits_for_the_month_to_end_in_the_tariffs_zone(homes):
    assert runs.open_monthly_run(dt.datetime(2026, 4, 1, 3, 30, tzinfo=dt.UTC)) is None
    assert not BillingRun.objects.exists()


def test_the_beat_opens_a_month_with_an_account_run_already(homes, django_capture_on_commit_callbacks):
    open_march(account=homes[0].premise.account)

    with django_capture_on_commit_callbacks():
        run = runs.open_monthly_run(dt.datetime(2026, 4, 1, 11, 30, tzinfo=dt.UTC))

    assert run.account is None
