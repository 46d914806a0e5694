"""Billing runs through real Celery workers over Redis and PostgreSQL (issue 6): a run fans out into chunk
tasks that workers bill in parallel, and a worker killed in the middle of a chunk loses nothing and doubles
nothing — its chunk comes back to another worker (acks_late) and is billed once.

Needs the Redis broker (REDIS_URL, as in CI) and PostgreSQL (DATABASE_URL): the workers are processes of
their own, so the test's data must be committed to a database they can reach.
"""

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from billing import runs, tasks
from billing.models import Bill, BillHold, BillingRun
from enrollment.models import Premise
from metering.partitions import forget_known_partitions
from pevportal.celery import app
from tests.billing.billing_homes import BilledHome, local
from tests.factories import PremiseFactory

ROOT = Path(__file__).resolve().parents[2]
MARCH = dt.date(2026, 3, 1)
DEADLINE_SECONDS = 90

pytestmark = [
    pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (a real broker); CI sets it"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def workers(tmp_path):
    """start(*options) -> Popen: a billing worker (tests/billing/billing_worker.py) on the test's own
    queue and database; every worker still running is stopped at the end."""
    if connection.vendor != "postgresql":
        pytest.fail("the worker tests need PostgreSQL (DATABASE_URL) next to REDIS_URL")
    queue = f"test-billing-{uuid.uuid4().hex[:8]}"
    db = connection.settings_dict
    credentials = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DATABASE_URL": f"postgres://{credentials}@{db['HOST']}:{db['PORT'] or 5432}/{quote(db['NAME'])}",
    }
    started = []

    def start(*options, chunk_premises=1):
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.billing.billing_worker", queue, *options],
            cwd=ROOT,
            env={**env, "BILLING_CHUNK_PREMISES": str(chunk_premises)},
        )
        started.append(process)
        return process

    start.queue = queue
    start.calls = tmp_path / "calls.jsonl"
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = False
    yield start
    app.conf.task_always_eager = previous
    for process in started:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


@pytest.fixture
def premises(sce_programs, make_device):
    """Two homes with a whole March of reads (billed) and four premises with none (held)."""
    forget_known_partitions()
    homes = [BilledHome(make_device) for _ in range(2)]
    for home in homes:
        home.premise_reads(local(2026, 3, 1), local(2026, 4, 1))
    PremiseFactory.create_batch(4, default_tariff=homes[0].premise.default_tariff)
    return sorted(Premise.objects.values_list("pk", flat=True))


def start_run(workers) -> BillingRun:
    run = runs.open_run(MARCH, trigger="command", now=local(2026, 4, 2))
    tasks.start_billing_run.apply_async((run.pk,), queue=workers.queue)
    return run


def wait_for(condition, what: str):
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    pytest.fail(f"gave up waiting for {what}")


def finished(run: BillingRun) -> BillingRun:
    def over():
        run.refresh_from_db()
        return run.status in runs.FINISHED

    wait_for(over, "the run to finish")
    return run


def done_premises() -> int:
    return Bill.objects.count() + BillHold.objects.count()


def assert_billed_once_each(run: BillingRun, premises: list[int]):
    billed = list(Bill.objects.values_list("premise", flat=True))
    held = list(BillHold.objects.values_list("premise", flat=True))
    assert sorted(billed + held) == premises  # each premise once: a bill or a hold, never both or twice
    assert (run.status, run.premises_total, run.premises_done) == ("done", 6, 6)
    assert (run.bills_issued, run.bills_held) == (2, 4)
    assert run.errors == []
    assert run.finished_at is not None


def chunks_billed(workers) -> list[list[int]]:
    """Each chunk a worker started billing, in order: its premise ids."""
    return [json.loads(line) for line in workers.calls.read_text().splitlines()]


def test_it_bills_a_month_through_workers_in_parallel(workers, premises):
    workers("--pool", "prefork", "--concurrency", "3", "--calls", str(workers.calls), chunk_premises=2)

    run = finished(start_run(workers))

    assert_billed_once_each(run, premises)
    assert sorted(chunks_billed(workers)) == [premises[0:2], premises[2:4], premises[4:6]]


@pytest.mark.parametrize("pause", ["billing", "committed"])
def test_a_worker_killed_mid_chunk_loses_nothing_and_doubles_nothing(workers, premises, pause):
    """Killed while billing, the chunk's transaction is rolled back; killed after it committed but before
    acknowledging it, the chunk comes again and finds its premises billed. Either way it is redelivered."""
    first = workers("--pause", pause, "--calls", str(workers.calls))
    run = start_run(workers)
    wait_for(done_premises, "the first chunk to commit")
    time.sleep(0.5)  # the worker is inside the pause: of the second chunk (billing) or the first (committed)

    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    run.refresh_from_db()
    assert (run.status, run.premises_done, done_premises()) == ("running", 1, 1)
    workers("--restore-after", "2", "--calls", str(workers.calls))

    run = finished(run)
    killed = premises[1] if pause == "billing" else premises[0]
    # A chunk that committed before its worker died can come again after the run finished (its premises
    # were done): wait for the redelivery rather than race it.
    wait_for(lambda: chunks_billed(workers).count([killed]) == 2, "the dead worker's chunk to come again")
    run.refresh_from_db()  # and the second delivery counted nothing twice

    assert_billed_once_each(run, premises)
    chunks = chunks_billed(workers)
    assert chunks.count([killed]) == 2  # the chunk the dead worker had was delivered again
    assert sorted(map(tuple, chunks)) == sorted([(pk,) for pk in premises] + [(killed,)])
