"""Replay state of the device API (Req 9; NF.1): signature nonces and stored idempotent responses.

Both live in the database, not Redis, so that a Redis outage neither re-opens replays nor stops devices.
A nonce only has to be remembered while a signature carrying it could still be accepted — `created` within
±DEVICE_SIGNATURE_WINDOW_SECONDS of the server clock — so `prune_nonces` deletes those whose `created` is
older than the window. Idempotent responses are kept for IDEMPOTENCY_RETENTION (24 h), far longer than any
device keeps retrying one request; `prune_idempotent_responses` deletes older ones. The beat task
`binding.tasks.prune_device_replay_state` runs both.

A view may record the nonce with its own first write instead of authentication recording it first: the
plug-in stores it in the statement that stores the binding (`DeferredNonce`), one statement and one commit
fewer on the evening peak's hot path (bench/binding.py). Until it is recorded the request writes nothing.
"""

import dataclasses
import datetime as dt

from django.conf import settings
from django.db import connection

from pevportal import prepared

from .models import Device, IdempotentResponse, UsedNonce

IDEMPOTENCY_RETENTION = dt.timedelta(hours=24)


class Replayed(Exception):
    """The device already used this nonce: the request is a replay, and changes nothing."""

    def __init__(self, device: Device):
        super().__init__(f"device {device.lfdi} already used this nonce")
        self.device = device


@dataclasses.dataclass
class DeferredNonce:
    """A verified signature's nonce that its view records with its own first write (a `UsedNonce` row among
    the statement's rows, `row()`), or alone with `record()` before writing anything else. The device API's
    base view records it after a view that did neither (a refusal), so every signed request leaves its
    nonce behind."""

    device: Device
    nonce: str
    created: dt.datetime
    recorded: bool = False

    def row(self) -> UsedNonce:
        return UsedNonce(device=self.device, nonce=self.nonce, created=self.created)

    def record(self) -> None:
        """Record the nonce now, unless it already is; `Replayed` if the device had used it."""
        if self.recorded:
            return
        if not remember_nonce(self.device, self.nonce, self.created):
            raise Replayed(self.device)
        self.recorded = True


def remember_nonce(device: Device, nonce: str, created: dt.datetime) -> bool:
    """Record that `device` used `nonce`; False when it already had (a replay).

    One `INSERT … ON CONFLICT DO NOTHING RETURNING`: the unique constraint decides the race between two
    copies of one request arriving together, without a savepoint, and an IntegrityError cannot break a
    surrounding transaction. PostgreSQL and SQLite (≥ 3.35) both speak it.
    """
    meta = UsedNonce._meta
    quote = connection.ops.quote_name
    device_column, nonce_column, created_column = (
        quote(meta.get_field(name).column) for name in ("device", "nonce", "created")
    )
    # Only identifiers from the model's metadata are interpolated; the values are parameters.
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({device_column}, {nonce_column}, {created_column}) "  # noqa: S608
        f"VALUES (%s, %s, %s) ON CONFLICT ({device_column}, {nonce_column}) DO NOTHING "
        f"RETURNING {quote(meta.pk.column)}"
    )
    created_value = meta.get_field("created").get_db_prep_value(created, connection)
    # Every signed request runs it: prepared once per connection (pevportal/prepared.py).
    with prepared.cursor() as cursor:
        cursor.execute(sql, [device.pk, nonce, created_value])
        return cursor.fetchone() is not None


def prune_nonces(now: dt.datetime) -> int:
    """Forget nonces whose signatures are now too old to be accepted anyway; the number deleted."""
    # One second more than the window: authentication compares `created` with the clock floored to the
    # second, so a signature exactly at the window's edge is still accepted for up to a second.
    cutoff = now - dt.timedelta(seconds=settings.DEVICE_SIGNATURE_WINDOW_SECONDS + 1)
    deleted, _ = UsedNonce.objects.filter(created__lt=cutoff).delete()
    return deleted


def prune_idempotent_responses(now: dt.datetime) -> int:
    """Forget stored responses older than IDEMPOTENCY_RETENTION; the number deleted.

    A device retrying with the same Idempotency-Key after that runs the request again; the handshake's own
    natural key (ESCI, PEV, plugged_in_at) still makes a retried plug-in the same binding.
    """
    deleted, _ = IdempotentResponse.objects.filter(created_at__lt=now - IDEMPOTENCY_RETENTION).delete()
    return deleted
