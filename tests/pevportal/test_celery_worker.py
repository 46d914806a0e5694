"""One end-to-end run through a real Celery worker over Redis: the heartbeat that /healthz reads.

Needs the Redis broker (REDIS_URL, as in CI); the embedded default has no broker and runs tasks eagerly.
"""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache

from pevportal.health import HEARTBEAT_KEY, check_celery
from pevportal.tasks import heartbeat

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (a real broker); CI sets it")


@pytest.fixture
def worker_queue():
    """A worker consuming a queue of its own, so no other worker on the machine takes the test's task."""
    queue = f"test-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "pevportal",
            "worker",
            "--pool",
            "solo",
            "-Q",
            queue,
            "--loglevel",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
    )
    yield queue
    worker.terminate()
    worker.wait(timeout=30)


def test_it_runs_the_heartbeat_through_a_real_worker(worker_queue, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    # The worker writes under the configured key prefix, not this test's own namespace.
    settings.CACHES = {
        name: {k: v for k, v in config.items() if k != "KEY_PREFIX"}
        for name, config in settings.CACHES.items()
    }
    cache.delete(HEARTBEAT_KEY)

    heartbeat.apply_async(queue=worker_queue)

    deadline = time.monotonic() + 60
    while cache.get(HEARTBEAT_KEY) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert check_celery()["status"] == "ok"
