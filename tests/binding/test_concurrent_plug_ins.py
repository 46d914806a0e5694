"""Two plug-ins of one PEV racing each other never leave two live bindings (the PEV's row lock and the
`binding_one_live_per_pev` constraint), and the later plug-in is the one that stays."""

import datetime as dt
import threading

import pytest
from django.db import connection
from django.utils import timezone

from binding import handshake
from binding.models import Binding
from enrollment.models import ServicePlan
from tests.binding.test_handshake import Home


@pytest.mark.django_db(transaction=True)
def test_two_plug_ins_racing_leave_one_live_binding(make_device, sce_programs):
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent writers and row locks: PostgreSQL")
    now = timezone.now().replace(microsecond=0)
    home = Home(make_device, plan=ServicePlan.objects.get(code="ev-standard"))
    home.commission(at=now - dt.timedelta(minutes=5))
    barrier = threading.Barrier(2)
    results, errors = [], []

    def plug_in(seconds_ago):
        at = now - dt.timedelta(seconds=seconds_ago)
        try:
            barrier.wait(timeout=10)
            results.append(handshake.request_binding(home.plug(at=at, key=False, proof=True), now=now))
        except Exception as error:  # reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=plug_in, args=(seconds,)) for seconds in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert len(results) == 2
    [live] = Binding.objects.live().filter(pev__vin=home.pev.vin)
    assert live.plugged_in_at == now - dt.timedelta(seconds=1), "the later plug-in wins, whichever ran first"
    earlier = Binding.objects.get(pev__vin=home.pev.vin, plugged_in_at=now - dt.timedelta(seconds=2))
    # Second to take the lock, the earlier plug-in is declined; first, it is superseded by the later one.
    assert (earlier.state, earlier.reason) in {
        (Binding.State.UNBOUND, Binding.Reason.OUT_OF_ORDER),
        (Binding.State.SUPERSEDED, ""),
    }
