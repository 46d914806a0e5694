"""Two plug-ins of one PEV racing each other never leave two live bindings (the PEV's row lock and the
`binding_one_live_per_pev` constraint), and the later plug-in is the one that stays. The optimistic path
(decided without the lock) meets a plug-in stored in between at a unique index and is decided again under
the lock."""

import datetime as dt
import threading

import pytest
from django.db import connection, transaction
from django.utils import timezone

from binding import handshake
from binding.models import Binding
from enrollment.models import ServicePlan
from tests.binding.test_handshake import Home


def commissioned_home(make_device, now, *, unplugged=True):
    """A commissioned PEV; `unplugged` after it, as at the evening peak (no live binding to supersede)."""
    home = Home(make_device, plan=ServicePlan.objects.get(code="ev-standard"))
    binding = home.commission(at=now - dt.timedelta(minutes=5))
    if unplugged:
        handshake.end_binding(binding.pk, esci=home.esci, unplugged_at=now - dt.timedelta(minutes=4), now=now)
    return home


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("unplugged", [False, True], ids=["still-plugged", "unplugged"])
def test_two_plug_ins_racing_leave_one_live_binding(make_device, sce_programs, unplugged):
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent writers and row locks: PostgreSQL")
    now = timezone.now().replace(microsecond=0)
    home = commissioned_home(make_device, now, unplugged=unplugged)
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


class StoredInBetween:
    """`read_facts` that, the first time it reads without the lock, lets another plug-in be stored before it
    answers: the race the optimistic path must survive, made deterministic."""

    def __init__(self, monkeypatch, store_other):
        self.locks = []
        self.store_other = store_other
        self.read = handshake.read_facts
        monkeypatch.setattr(handshake, "read_facts", self)

    def __call__(self, *, lock, **kwargs):
        self.locks.append(lock)
        facts = self.read(lock=lock, **kwargs)
        if self.locks == [False]:
            self.store_other()
        return facts


@pytest.mark.django_db(transaction=True)  # autocommit, as a device request without an Idempotency-Key runs
def test_a_plug_in_of_the_same_pev_stored_in_between_is_decided_again_under_the_lock(
    make_device, sce_programs, monkeypatch
):
    now = timezone.now().replace(microsecond=0)
    home = commissioned_home(make_device, now)
    later = now - dt.timedelta(seconds=1)
    race = StoredInBetween(
        monkeypatch, lambda: handshake.request_binding(home.plug(at=later, key=False, proof=True), now=now)
    )

    earlier = handshake.request_binding(
        home.plug(at=now - dt.timedelta(seconds=2), key=False, proof=True), now=now
    )

    assert race.locks == [False, False, True], "the optimistic attempt failed the one-live index, then locked"
    assert (earlier.state, earlier.reason) == (Binding.State.UNBOUND, Binding.Reason.OUT_OF_ORDER)
    [live] = Binding.objects.live().filter(pev__vin=home.pev.vin)
    assert live.plugged_in_at == later
    assert earlier.events.count() == 2, "the failed attempt stored nothing: one plug-in, one decision"


@pytest.mark.django_db(transaction=True)
def test_a_retry_stored_in_between_gets_the_binding_the_first_request_created(
    make_device, sce_programs, monkeypatch
):
    now = timezone.now().replace(microsecond=0)
    home = commissioned_home(make_device, now)
    plug = home.plug(at=now - dt.timedelta(seconds=1), key=False, proof=True)
    first = []
    StoredInBetween(monkeypatch, lambda: first.append(handshake.request_binding(plug, now=now)))

    retried = handshake.request_binding(plug, now=now)

    assert retried.pk == first[0].pk
    assert retried.state == Binding.State.BOUND
    assert Binding.objects.filter(pev__vin=home.pev.vin, plugged_in_at=plug.plugged_in_at).count() == 1


def in_another_connection(work):
    """Run `work` on a thread of its own: its own connection and transaction, committed when it returns."""
    errors = []

    def run():
        try:
            work()
        except Exception as error:  # reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    assert errors == []


@pytest.mark.django_db(transaction=True)
def test_inside_a_callers_transaction_the_conflict_is_retried_after_a_savepoint(
    make_device, sce_programs, monkeypatch
):
    """An Idempotency-Key runs the handshake inside the transaction that stores the answer: the failed
    optimistic insert must not break it."""
    if connection.vendor != "postgresql":
        pytest.skip("needs a second writer committing while the first transaction is open: PostgreSQL")
    now = timezone.now().replace(microsecond=0)
    home = commissioned_home(make_device, now)
    later = now - dt.timedelta(seconds=1)
    race = StoredInBetween(
        monkeypatch,
        lambda: in_another_connection(
            lambda: handshake.request_binding(home.plug(at=later, key=False, proof=True), now=now)
        ),
    )

    with transaction.atomic():
        earlier = handshake.request_binding(
            home.plug(at=now - dt.timedelta(seconds=2), key=False, proof=True), now=now
        )

    assert race.locks == [False, False, True]
    assert (earlier.state, earlier.reason) == (Binding.State.UNBOUND, Binding.Reason.OUT_OF_ORDER)
    [live] = Binding.objects.live().filter(pev__vin=home.pev.vin)
    assert live.plugged_in_at == later
