"""Liveness of what the portal depends on, for /healthz: the database, Redis and the Celery worker + beat.

Celery is judged by the heartbeat task beat schedules every minute: a recent heartbeat proves beat, the
broker and a worker all work. Each probe has a short timeout so a dead dependency cannot hang the check.
"""

import datetime as dt

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

HEARTBEAT_KEY = "pevportal:celery-heartbeat"
HEARTBEAT_STALE_AFTER = dt.timedelta(minutes=3)


def check_database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any failure is "down"; the type is reported
        return {"status": "down", "vendor": connection.vendor, "error": type(exc).__name__}
    return {"status": "ok", "vendor": connection.vendor}


def check_redis() -> dict:
    if not settings.REDIS_URL:
        return {"status": "not_configured"}
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        return {"status": "down", "error": type(exc).__name__}
    return {"status": "ok"}


def check_celery() -> dict:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return {"status": "eager"}
    try:
        beat = cache.get(HEARTBEAT_KEY)
    except Exception as exc:  # the cache is Redis here; its outage is reported, not raised
        return {"status": "unknown", "error": type(exc).__name__}
    if beat is None:
        return {"status": "no_heartbeat"}
    last = dt.datetime.fromisoformat(beat)
    status = "ok" if timezone.now() - last < HEARTBEAT_STALE_AFTER else "stale"
    return {"status": status, "last_heartbeat": beat}


def record_heartbeat() -> None:
    cache.set(HEARTBEAT_KEY, timezone.now().isoformat(), timeout=None)


def overall() -> tuple[bool, dict]:
    """(healthy, report). Unhealthy when the database or a configured Redis is down."""
    report = {"database": check_database(), "redis": check_redis(), "celery": check_celery()}
    healthy = report["database"]["status"] == "ok" and report["redis"]["status"] in {"ok", "not_configured"}
    report["status"] = (
        "ok"
        if healthy and report["celery"]["status"] in {"ok", "eager"}
        else ("degraded" if healthy else "down")
    )
    report["time"] = timezone.now().isoformat(timespec="seconds")
    return healthy, report
