"""/healthz reports the database, Redis and Celery, and answers 503 when the portal cannot serve."""

import pytest
from django.core.cache import cache

from pevportal.health import HEARTBEAT_KEY
from pevportal.tasks import heartbeat


@pytest.mark.django_db
def test_it_reports_every_dependency(client, settings):
    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["database"]["status"] == "ok"
    assert body["redis"]["status"] == ("ok" if settings.REDIS_URL else "not_configured")
    if settings.REDIS_URL:
        assert body["celery"]["status"] in {"ok", "no_heartbeat", "stale"}
    else:
        assert body["celery"] == {"status": "eager"}
    assert body["time"].endswith("+00:00")


@pytest.mark.django_db
def test_it_reports_celery_alive_after_a_heartbeat(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    cache.delete(HEARTBEAT_KEY)
    assert client.get("/healthz").json()["celery"]["status"] == "no_heartbeat"

    heartbeat()

    assert client.get("/healthz").json()["celery"]["status"] == "ok"


@pytest.mark.django_db
def test_it_answers_503_when_redis_is_down(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["redis"]["status"] == "down"
    assert response.json()["status"] == "down"
