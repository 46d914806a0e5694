"""Ingest reliability (issue 5): a batch retried after the server died mid-request is neither lost nor
doubled; Redis unavailable does not stop ingest (the follow-up work waits in the database); a conflicting
re-send never changes billed data; a malformed batch changes nothing."""

import datetime as dt

import pytest
from django.utils import timezone

from metering import correlation, rollups
from metering.models import (
    CorrelationDue,
    LoadCorrelation,
    Meter,
    PevRead,
    ReadingBatch,
    ReadRevision,
    UsageRollup,
)
from pevportal.celery import app
from tests.metering.homes import MeteredHome

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def home(sce_programs, make_device):
    return MeteredHome(make_device)


def two_days_ago() -> dt.datetime:
    return timezone.now().replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(days=2)


def test_a_batch_retried_after_the_server_died_mid_request_is_stored_once(client, home, monkeypatch):
    reads = home.reads(two_days_ago(), 12)
    real_add = rollups.add

    def die_after_the_reads_are_written(energies):
        assert PevRead.objects.count() == 12  # the COPY ran inside the transaction that is about to die
        raise ConnectionResetError("worker killed")

    monkeypatch.setattr(rollups, "add", die_after_the_reads_are_written)
    with pytest.raises(ConnectionResetError):
        home.post(client, reads, batch_id="crash")
    assert not PevRead.objects.exists()
    assert not ReadingBatch.objects.exists()

    monkeypatch.setattr(rollups, "add", real_add)
    retried = home.post(client, reads, batch_id="crash")
    again = home.post(client, reads, batch_id="crash")

    assert retried.json()["accepted"] == 12
    assert again.json() == retried.json()
    assert PevRead.objects.count() == 12
    assert sum(UsageRollup.objects.values_list("reads", flat=True)) == 12


@pytest.fixture
def broker_down(settings, monkeypatch):
    """A real Celery producer pointed at a port where nothing listens, as when Redis is down."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    saved = {"task_always_eager": app.conf.task_always_eager, "broker_url": app.conf.broker_url}
    app.conf.update(task_always_eager=False, broker_url="redis://127.0.0.1:9/0")
    monkeypatch.setattr(app, "_pool", None)
    yield
    app.conf.update(saved)
    app._pool = None


def test_ingest_goes_on_when_redis_is_down_and_the_work_waits_in_the_database(client, home, broker_down):
    start = two_days_ago()
    session = home.session(start, start + dt.timedelta(hours=2))
    response = home.post(client, home.reads(start, 8))

    assert response.status_code == 200
    assert response.json()["accepted"] == 8
    assert list(CorrelationDue.objects.values_list("binding_id", flat=True)) == [session.pk]
    # The beat sweep (or any worker once Redis is back) finds the work in the database.
    assert correlation.correlate_due(now=timezone.now()) == 1
    assert LoadCorrelation.objects.filter(binding=session).exists()
    assert not CorrelationDue.objects.exists()


def test_a_conflicting_resend_never_changes_billed_data(client, home):
    start = two_days_ago()
    home.post(client, home.reads(start, 8, wh=1000), batch_id="original")
    Meter.objects.filter(eumd=home.eumd).update(billed_through=start + dt.timedelta(hours=2))
    before = sorted(UsageRollup.objects.values_list("day", "period_index", "wh"))
    result = home.post(client, home.reads(start, 8, wh=1200), batch_id="resend").json()

    assert result["conflicts"] == 8
    assert set(PevRead.objects.values_list("wh", flat=True)) == {1000}
    assert sorted(UsageRollup.objects.values_list("day", "period_index", "wh")) == before
    assert ReadRevision.objects.filter(status="open").count() == 8


def test_a_malformed_body_changes_nothing(client, home):
    response = home.post(client, None, body=b'{"batch_id": "x", "reads": [')

    assert response.status_code == 400
    assert not ReadingBatch.objects.exists()
    assert not Meter.objects.exists()
    assert not PevRead.objects.exists()
