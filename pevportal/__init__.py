"""PEV Portal project package: settings, URL routing, ASGI/WSGI entry points, Celery app and the
cross-cutting models every app uses (the audit trail)."""

from pevportal.celery import app as celery_app

__all__ = ["celery_app"]
