"""Utility → device messages, relayed by the ESCI (Req 18, 25, 26): EUMD interval changes, new PEV parameters
after a plan or tariff change, and critical-peak events.

Each message is signed by the utility (JWS) so the ESCI cannot alter it, waits in the ESCI's outbox until
acknowledged (`pending_for` re-delivers), and an acknowledgement is idempotent. An interval change takes
effect when the EUMD's ESCI acknowledges it: metering accepts reads at the new length from that instant.
"""

import datetime as dt
import uuid
from collections.abc import Iterable

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from billing.models import CriticalPeakDay
from enrollment.models import Enrollment, ServicePlan
from pevportal import audit
from pevportal.models import Channel

from . import jws, parameters
from .models import Device, DeviceKind, DeviceMessage, PevKey

Kind = DeviceMessage.Kind
Recipient = DeviceMessage.Recipient
DELIVERY_BATCH = 100


class MessageNotFound(LookupError):
    """No such message in this ESCI's outbox."""


def send_interval_change(eumd: Device, interval_seconds: int, *, by) -> list[DeviceMessage]:
    """A CSR sets the EUMD's interval length (Req 25); it applies once the ESCI acknowledges the message."""
    if eumd.kind != DeviceKind.EUMD:
        raise ValueError("only an EUMD has an interval length")
    if interval_seconds not in (300, 900, 1800, 3600):
        raise ValueError("the interval length must be 5, 15, 30 or 60 minutes")
    escis = list(_escis_of(eumd))
    if not escis:
        raise ValueError("no enabled ESCI can relay to this EUMD")
    with transaction.atomic():
        messages = _send(
            escis,
            Recipient.EUMD,
            eumd.lfdi,
            Kind.INTERVAL_CHANGE,
            {"typ": "interval-change", "eumd_lfdi": eumd.lfdi, "interval_seconds": interval_seconds},
            created_by=by,
        )
        audit.record(
            action="device.interval_change_requested",
            target=eumd,
            channel=Channel.PHONE,
            actor=by,
            after={"interval_seconds": interval_seconds},
        )
    return messages


def announce_parameter_changes(now: dt.datetime) -> int:
    """Hourly: every commissioned PEV whose parameters changed (plan switch, new tariff version) gets the new
    ones (Req 18, 26). The version is computed once per plan; only PEVs holding another version are sent."""
    sent = 0
    for plan in ServicePlan.objects.select_related("tariff", "program"):
        version = parameters.parameters_version(plan, now)
        stale = (
            PevKey.objects.filter(revoked_at__isnull=True, enrollment__plan=plan)
            .filter(enrollment__status__in=Enrollment.HOLDING_STATUSES)
            .exclude(parameters_version=version)
            .select_related("pev", "enrollment__premise")
        )
        keys = list(stale)
        if not keys:
            continue
        schedule = parameters.price_schedule(plan, now)
        escis = _escis_by_premise({key.enrollment.premise_id for key in keys})
        # A PEV whose premise has no enabled ESCI right now (a swap in progress) keeps its old version, so
        # a later run sends the parameters once the new ESCI is registered.
        reachable = [key for key in keys if escis.get(key.enrollment.premise_id)]
        outbox = [
            message
            for key in reachable
            for message in _messages(
                escis[key.enrollment.premise_id],
                Recipient.PEV,
                key.pev.vin,
                Kind.PARAMETERS,
                {
                    "typ": "pev-parameters",
                    "pev_id": key.pev.vin,
                    "premise_id": key.enrollment.premise.premise_id,
                    "program": plan.program.code,
                    "plan": plan.code,
                    "parameters_version": version,
                    "interval_seconds": plan.eumd_interval_seconds,
                    "price_schedule": schedule,
                    "iat": int(now.timestamp()),
                },
            )
        ]
        with transaction.atomic():
            DeviceMessage.objects.bulk_create(outbox, batch_size=1_000)
            PevKey.objects.filter(pk__in=[key.pk for key in reachable]).update(parameters_version=version)
        sent += len(outbox)
    return sent


def announce_critical_peak(day: CriticalPeakDay) -> int:
    """Tell the PEVs on plans billed under the event's tariff about a critical-peak day (price signal)."""
    version = day.version
    if DeviceMessage.objects.filter(kind=Kind.EVENT, payload__event_id=f"cpp-{day.pk}").exists():
        return 0
    premise_ids = (
        Enrollment.objects.current()
        .filter(plan__tariff=version.tariff_id)
        .values_list("premise_id", flat=True)
        .distinct()
    )
    escis = [esci for group in _escis_by_premise(set(premise_ids)).values() for esci in group]
    payload = {
        "typ": "event",
        "event": "critical_peak",
        "event_id": f"cpp-{day.pk}",
        "tariff": version.tariff.code,
        "date": day.date.isoformat(),
        "time_zone": version.tariff.time_zone,
        "start_hour": version.critical_peak_start_hour,
        "end_hour": version.critical_peak_end_hour,
        "price_adder": str(version.critical_peak_adder),
    }
    with transaction.atomic():
        return len(_send(escis, Recipient.ESCI, "", Kind.EVENT, payload))


def announce_critical_peaks(now: dt.datetime) -> int:
    """Daily: today's and tomorrow's critical-peak days not yet announced."""
    today = now.date()
    days = CriticalPeakDay.objects.filter(
        date__gte=today, date__lte=today + dt.timedelta(days=1)
    ).select_related("version__tariff")
    return sum(announce_critical_peak(day) for day in days)


def pending_for(esci: Device, *, now: dt.datetime | None = None) -> list[DeviceMessage]:
    """The ESCI's unacknowledged messages, oldest first; each delivery is counted."""
    now = now or timezone.now()
    messages = list(
        DeviceMessage.objects.filter(esci=esci, acked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .order_by("created_at")[:DELIVERY_BATCH]
    )
    if messages:
        DeviceMessage.objects.filter(pk__in=[m.pk for m in messages]).update(
            deliveries=F("deliveries") + 1, last_delivered_at=now
        )
    return messages


def acknowledge(message_id: uuid.UUID, *, esci: Device, now: dt.datetime) -> DeviceMessage:
    """The ESCI delivered the message. Acknowledging again changes nothing and answers the same."""
    with transaction.atomic():
        message = DeviceMessage.objects.select_for_update().filter(pk=message_id, esci=esci).first()
        if message is None:
            raise MessageNotFound(str(message_id))
        if message.acked_at is not None:
            return message
        message.acked_at = now
        message.save(update_fields=["acked_at"])
        if message.kind == Kind.INTERVAL_CHANGE:
            # Req 25: reads at the new length count from the acknowledged time (metering: interval_since).
            Device.objects.filter(lfdi=message.recipient_id, kind=DeviceKind.EUMD).update(
                interval_seconds=message.payload["interval_seconds"], interval_since=now
            )
    return message


def _send(
    escis: Iterable[Device], recipient: str, recipient_id: str, kind: str, payload: dict, *, created_by=None
) -> list[DeviceMessage]:
    return DeviceMessage.objects.bulk_create(
        _messages(escis, recipient, recipient_id, kind, payload, created_by=created_by)
    )


def _messages(
    escis: Iterable[Device], recipient: str, recipient_id: str, kind: str, payload: dict, *, created_by=None
) -> list[DeviceMessage]:
    """One signed message per relaying ESCI, unsaved; the message id is inside the signed payload."""
    messages = []
    for esci in escis:
        message_id = uuid.uuid4()
        signed = {**payload, "message_id": str(message_id)}
        messages.append(
            DeviceMessage(
                id=message_id,
                esci=esci,
                recipient=recipient,
                recipient_id=recipient_id,
                kind=kind,
                payload=signed,
                jws=jws.sign(signed),
                created_by=created_by,
            )
        )
    return messages


def _escis_of(eumd: Device):
    """The ESCIs that can reach an EUMD: at its premise, or at the home premise of the PEV it sits in."""
    if eumd.premise_id:
        premise_ids = [eumd.premise_id]
    else:
        premise_ids = list(
            Enrollment.objects.current().filter(pev_id=eumd.pev_id).values_list("premise_id", flat=True)
        )
    return Device.objects.enabled().filter(kind=DeviceKind.ESCI, premise_id__in=premise_ids)


def _escis_by_premise(premise_ids: set[int]) -> dict[int, list[Device]]:
    grouped: dict[int, list[Device]] = {}
    for esci in Device.objects.enabled().filter(kind=DeviceKind.ESCI, premise_id__in=premise_ids):
        grouped.setdefault(esci.premise_id, []).append(esci)
    return grouped
