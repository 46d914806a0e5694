"""Binding's background work: thin tasks around plain functions that tests call directly."""

from celery import shared_task
from django.utils import timezone

from binding import handshake, messages
from binding.nonces import prune_idempotent_responses, prune_nonces


@shared_task(ignore_result=True)
def sweep_bindings() -> dict[str, int]:
    """Every 30 s: persist handshake timeouts (Req 10; reads are right before it runs) and close sessions
    that no ESCI ended."""
    now = timezone.now()
    return {"timed_out": handshake.expire_handshakes(now), "closed": handshake.close_stale_bindings(now)}


@shared_task(ignore_result=True)
def announce_parameter_changes() -> int:
    """Hourly, after plan switches: new parameters for PEVs whose plan or tariff changed (Req 18, 26)."""
    return messages.announce_parameter_changes(timezone.now())


@shared_task(ignore_result=True)
def announce_critical_peaks() -> int:
    """Hourly: critical-peak days of today and tomorrow, each announced once."""
    return messages.announce_critical_peaks(timezone.now())


@shared_task(ignore_result=True)
def prune_device_replay_state() -> dict[str, int]:
    """Every few minutes: drop nonces older than the signature window and day-old idempotent responses."""
    now = timezone.now()
    return {"nonces": prune_nonces(now), "idempotent_responses": prune_idempotent_responses(now)}
