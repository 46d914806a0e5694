"""One end-to-end run through a real Celery worker over Redis and PostgreSQL: a committed notification is
emailed by the worker (the beat sweep's task), and only once.

Needs REDIS_URL and DATABASE_URL (as in CI): the worker is a process of its own, reading the test database.
"""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from pevportal.celery import app
from pevportal.models import Notification
from pevportal.notifications import Notice, notify
from pevportal.tasks import send_notification_emails
from tests.factories import UtilityAccountFactory

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (a real broker); CI sets it"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def worker(tmp_path):
    """A worker on a queue of its own and the test database; its console emails go to a file."""
    if connection.vendor != "postgresql":
        pytest.fail("the worker test needs PostgreSQL (DATABASE_URL) next to REDIS_URL")
    queue = f"test-notifications-{uuid.uuid4().hex[:8]}"
    db = connection.settings_dict
    credentials = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DATABASE_URL": f"postgres://{credentials}@{db['HOST']}:{db['PORT'] or 5432}/{quote(db['NAME'])}",
        "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
    }
    output = tmp_path / "worker.out"
    with output.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "pevportal", "worker", "--pool", "solo", "-Q", queue,
             "--loglevel", "WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = False
    yield queue, output
    app.conf.task_always_eager = previous
    process.terminate()
    process.wait(timeout=30)


def test_a_real_worker_emails_a_committed_notification_once(worker, monkeypatch):
    queue, output = worker
    # The after-commit nudge goes to the default queue; this test sends the sweep's run to the worker's.
    monkeypatch.setattr(send_notification_emails, "apply_async", lambda **options: None)
    account = UtilityAccountFactory(customer__email="dana@example.com")
    params = {"bill_id": 9, "period_on": "2026-10-01", "total": "42.00", "address": "9 Oak Avenue"}
    notify([Notice(kind="bill_ready", dedupe_key="bill:9", account_id=account.pk, params=params)])
    monkeypatch.undo()

    send_notification_emails.apply_async(queue=queue)
    send_notification_emails.apply_async(queue=queue)  # a second run finds nothing left to send

    deadline = time.monotonic() + 60
    while Notification.objects.get().emailed_at is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert Notification.objects.get().emailed_at is not None
    time.sleep(1)
    assert output.read_text().count("Subject: Your bill for October 2026 is ready") == 1
