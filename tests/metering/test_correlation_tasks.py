"""Correlation work is a queue of rows in the database: drained by the worker, nudged after commit, kept
through a broker outage or a worker that dies, and found again by an AMI import (Req 15)."""

import datetime as dt
import threading

import pytest
from django.db import connection, connections, transaction
from kombu.exceptions import OperationalError

from metering import correlation, tasks
from metering.models import CorrelationDue, LoadCorrelation
from pevportal.celery import app
from tests.metering.correlation_fixtures import (
    CHARGING,
    PLUGGED_IN,
    SOON_AFTER,
    UNPLUGGED,
    charged_session,
    write_household,
)
from tests.metering.homes import MeteredHome

pytestmark = pytest.mark.django_db
HOUR = dt.timedelta(hours=1)


@pytest.fixture
def home(sce_programs, make_device):
    return MeteredHome(make_device)


@pytest.fixture
def sessions(home):
    """Three evening sessions on consecutive days, the premise meter explaining each."""
    found = []
    for day in range(3):
        start = PLUGGED_IN + dt.timedelta(days=day)
        found.append(charged_session(home, start=start))
        write_household(home, CHARGING, start=start)
    return found


def queued() -> set[str]:
    return {str(pk) for pk in CorrelationDue.objects.values_list("binding_id", flat=True)}


def results() -> dict[str, str]:
    return {str(c.binding_id): c.result for c in LoadCorrelation.objects.all()}


def test_it_drains_the_queue(sessions):
    correlation.queue_correlation(b.pk for b in sessions)

    done = correlation.correlate_due(now=SOON_AFTER + dt.timedelta(days=3))

    assert done == 3
    assert queued() == set()
    assert results() == {str(b.pk): "pass" for b in sessions}


def test_it_stops_at_the_limit_and_leaves_the_rest_queued(sessions):
    correlation.queue_correlation(b.pk for b in sessions)

    assert correlation.correlate_due(2, now=SOON_AFTER) == 2
    assert len(queued()) == 1
    assert correlation.correlate_due(2, now=SOON_AFTER) == 1
    assert queued() == set()


def test_it_leaves_a_session_queued_when_its_correlation_fails(sessions, monkeypatch):
    broken = sessions[1]
    real = correlation.correlate

    def correlate(binding_id, *, now):
        if str(binding_id) == str(broken.pk):
            raise ValueError("unexpected data")
        return real(binding_id, now=now)

    monkeypatch.setattr(correlation, "correlate", correlate)
    correlation.queue_correlation(b.pk for b in sessions)

    done = correlation.correlate_due(now=SOON_AFTER)

    assert done == 2
    assert queued() == {str(broken.pk)}
    assert str(broken.pk) not in results()


def test_it_loses_nothing_when_the_worker_dies_mid_way(sessions, monkeypatch):
    calls = []
    real = correlation.correlate

    def correlate(binding_id, *, now):
        calls.append(binding_id)
        if len(calls) == 2:
            raise SystemExit("worker killed")
        return real(binding_id, now=now)

    monkeypatch.setattr(correlation, "correlate", correlate)
    correlation.queue_correlation(b.pk for b in sessions)

    with pytest.raises(SystemExit):
        correlation.correlate_due(now=SOON_AFTER)

    # Whatever the dying worker had not committed is still queued.
    assert queued()
    assert queued() | set(results()) == {str(b.pk) for b in sessions}


def test_it_queues_a_session_once_and_moves_it_back_when_queued_again(sessions):
    first, second = sessions[0], sessions[1]
    correlation.queue_correlation([first.pk, second.pk, first.pk])
    before = CorrelationDue.objects.get(binding=first).queued_at

    assert correlation.queue_correlation([str(first.pk)]) == 1

    assert CorrelationDue.objects.count() == 2
    assert CorrelationDue.objects.get(binding=first).queued_at >= before
    assert correlation.queue_correlation([]) == 0


def test_it_finds_the_bound_sessions_an_import_overlaps(home, make_device):
    ended = home.session(PLUGGED_IN, UNPLUGGED)
    earlier = home.session(PLUGGED_IN - dt.timedelta(days=1), UNPLUGGED - dt.timedelta(days=1))
    later = home.session(PLUGGED_IN + dt.timedelta(days=1), UNPLUGGED + dt.timedelta(days=1))
    live = home.session(UNPLUGGED + HOUR, None)
    home.session(PLUGGED_IN + HOUR, UNPLUGGED, bound=False)
    MeteredHome(make_device, plan=home.plan).session(PLUGGED_IN, UNPLUGGED)

    def overlapping(first, last):
        return set(correlation.bindings_overlapping({home.premise.pk}, first, last))

    assert overlapping(PLUGGED_IN + HOUR, PLUGGED_IN + 2 * HOUR) == {ended.pk}
    assert overlapping(UNPLUGGED, UNPLUGGED + 2 * HOUR) == {live.pk}
    assert overlapping(UNPLUGGED + dt.timedelta(hours=30), UNPLUGGED + dt.timedelta(hours=31)) == set()
    assert overlapping(PLUGGED_IN - dt.timedelta(days=1), PLUGGED_IN + dt.timedelta(days=2)) == {
        earlier.pk,
        ended.pk,
        later.pk,
        live.pk,
    }


def test_it_nudges_a_worker_after_commit(sessions, monkeypatch, django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr(tasks.correlate_due_sessions, "apply_async", lambda **options: sent.append(options))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        correlation.queue_correlation([sessions[0].pk])
        correlation.enqueue_after_commit()
    assert sent == []
    for callback in callbacks:
        callback()

    assert sent == [{"retry": False}]


def test_it_keeps_the_work_queued_when_the_broker_is_down(
    sessions, monkeypatch, django_capture_on_commit_callbacks
):
    def refuse(**options):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.correlate_due_sessions, "apply_async", refuse)

    with django_capture_on_commit_callbacks(execute=True):
        correlation.queue_correlation([sessions[0].pk])
        correlation.enqueue_after_commit()

    assert queued() == {str(sessions[0].pk)}
    assert correlation.correlate_due(now=SOON_AFTER) == 1


@pytest.fixture
def eager_celery():
    """Tasks run in-process, as in the embedded default (CI's Redis run sends them to a broker)."""
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


def test_it_runs_the_task_through_celery_in_eager_mode(
    sessions, eager_celery, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        correlation.queue_correlation(b.pk for b in sessions)
        correlation.enqueue_after_commit()

    assert queued() == set()
    assert set(results()) == {str(b.pk) for b in sessions}
    assert tasks.correlate_due_sessions.delay().get() == 0


def test_it_creates_read_partitions_ahead(settings):
    settings.METERING_PARTITIONS_AHEAD_DAYS = 3

    assert tasks.create_read_partitions() == 4


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks: PostgreSQL (SQLite has one writer)")
@pytest.mark.django_db(transaction=True)
def test_it_skips_a_session_another_worker_is_correlating(sessions):
    correlation.queue_correlation(b.pk for b in sessions)
    busy = sessions[0]
    locked, release = threading.Event(), threading.Event()

    def other_worker():
        try:
            with transaction.atomic():
                CorrelationDue.objects.select_for_update().get(binding=busy)
                locked.set()
                release.wait(timeout=30)
        finally:
            connections.close_all()

    worker = threading.Thread(target=other_worker)
    worker.start()
    try:
        assert locked.wait(timeout=30)
        done = correlation.correlate_due(now=SOON_AFTER)
    finally:
        release.set()
        worker.join()

    assert done == 2
    assert queued() == {str(busy.pk)}
