"""Two reports of one session arriving together (binding/charging.py): the second waits for the binding's row
lock and then reads the status the first stored, so neither fails and no increment is priced twice."""

import datetime as dt
import threading
import time
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from binding import charging
from binding.models import PevStatus
from tests.live.test_pev_status_api import post, price_at, report


@pytest.mark.django_db(transaction=True)
def test_two_first_reports_at_once_are_both_accepted(home, plan, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent writers and row locks: PostgreSQL")
    now = timezone.now().replace(microsecond=0)
    binding = home.commission(at=now - dt.timedelta(minutes=5))
    # Whoever takes the lock first holds it a while, so the other report is sure to wait for it.
    next_status = charging._next_status
    monkeypatch.setattr(charging, "_next_status", lambda *args: time.sleep(0.3) or next_status(*args))
    barrier = threading.Barrier(2)
    responses, errors = [], []

    def send(seconds_ago, energy_wh):
        try:
            barrier.wait(timeout=10)
            at = now - dt.timedelta(seconds=seconds_ago)
            responses.append(post(Client(), home, report(binding.pk, at, session_energy_wh=energy_wh)))
        except Exception as error:  # reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=args) for args in ((2, 1_000), (1, 3_000))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert [response.status_code for response in responses] == [202, 202]
    status = PevStatus.objects.get(binding=binding)
    assert (status.reported_at, status.session_energy_wh) == (now - dt.timedelta(seconds=1), 3_000)
    price, _ = price_at(plan.tariff, status.reported_at)
    assert status.cost_so_far == Decimal(3) * price, "3 kWh priced once, whichever report ran first"
