"""Notification fixtures: homes that commission and charge (the binding tests' `Home`), customers linked to
their accounts, and Celery's email task captured at commit so a test decides when the worker runs."""

import pytest

from enrollment.models import AccountLink, ServicePlan
from pevportal import tasks
from tests.binding.conftest import device_ca, make_device  # noqa: F401 — homes need devices
from tests.binding.test_handshake import Home


@pytest.fixture
def plan(sce_programs):
    return ServicePlan.objects.select_related("tariff", "program").get(code="ev-standard")


@pytest.fixture
def make_home(make_device, plan):  # noqa: F811 — the fixture imported above
    """make_home(user=None, **enrollment fields) -> Home, its account linked to `user` if given."""

    def make(user=None, **kwargs):
        home = Home(make_device, plan=plan, **kwargs)
        if user is not None:
            AccountLink.objects.create(user=user, account=home.premise.account, method="verified")
        return home

    return make


@pytest.fixture
def nudges(monkeypatch):
    """The email task sends after commit, recorded instead of queued: len(nudges) is how many were sent."""
    sent = []
    monkeypatch.setattr(tasks.send_notification_emails, "apply_async", lambda **options: sent.append(options))
    return sent
