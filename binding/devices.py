"""Registering, disabling and swapping ESCIs and EUMDs (Req 8, 9, 22; BR.2, BR.7). Each action is atomic
and audited; the command line and the CSR screens both call these.

A device's standing is its `enabled` flag, which the device API reads on every request: disabling takes
effect on the device's next request. A swapped device keeps its row (and so its bindings), disabled, with
`replaced_by` pointing at the replacement.
"""

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from binding import ca
from binding.identity import certificate_lfdi, sfdi
from binding.models import Device, DeviceKind, DeviceMessage
from enrollment.models import Pev, Premise
from pevportal.audit import record, snapshot
from pevportal.models import Channel

DEVICE_AUDIT_FIELDS = ["kind", "lfdi", "sfdi", "premise", "pev", "enabled", "disabled_reason", "replaced_by"]
REASON_MAX_LENGTH = Device._meta.get_field("disabled_reason").max_length


def register_device(
    kind: str,
    certificate: x509.Certificate,
    premise: Premise | None = None,
    pev: Pev | None = None,
    by=None,
    *,
    channel: Channel = Channel.ADMIN,
    actor_label: str = "",
) -> Device:
    """Register a device by its certificate; ValidationError says why not (Req 8, 22; BR.7).

    An ESCI belongs to a premise; an EUMD to a premise or, when it sits inside the PEV, to the PEV.
    """
    check_placement(kind, premise, pev)
    try:
        issued_here = ca.verify_issued_by_ca(certificate)
    except ValueError as exc:
        raise ValidationError(str(exc), code="certificate") from None
    lfdi = certificate_lfdi(certificate)
    with transaction.atomic():
        existing = Device.objects.filter(lfdi=lfdi).select_related("premise", "pev").first()
        if existing is not None:
            raise _duplicate(existing)
        device = Device(
            kind=kind,
            lfdi=lfdi,
            sfdi=sfdi(lfdi),
            certificate_pem=certificate.public_bytes(Encoding.PEM).decode(),
            not_after=certificate.not_valid_after_utc,
            premise=premise,
            pev=pev,
        )
        try:
            # A savepoint: two operators registering the same certificate at once meet the unique LFDI.
            with transaction.atomic():
                device.save()
        except IntegrityError:
            raise _duplicate(Device.objects.get(lfdi=lfdi)) from None
        record(
            action="device.registered",
            target=device,
            channel=channel,
            actor=by,
            actor_label=actor_label,
            after=snapshot(device, DEVICE_AUDIT_FIELDS),
            context={
                "issuer": "device-ca" if issued_here else certificate.issuer.rfc4514_string(),
                "not_after": certificate.not_valid_after_utc.isoformat(),
            },
        )
    return device


def check_placement(kind: str, premise: Premise | None, pev: Pev | None) -> None:
    """ValidationError unless an ESCI has a premise, or an EUMD exactly one premise or PEV (BR.7)."""
    if kind not in DeviceKind.values:
        raise ValidationError(f"Unknown device kind {kind!r}: use esci or eumd.", code="kind")
    if kind == DeviceKind.ESCI and (premise is None or pev is not None):
        raise ValidationError(
            "An ESCI belongs to a premise: give its premise (and no PEV).", code="placement"
        )
    if kind == DeviceKind.EUMD and (premise is None) == (pev is None):
        raise ValidationError(
            "An EUMD belongs to exactly one premise or one PEV (when it sits inside the vehicle): give one.",
            code="placement",
        )


def disable_device(
    device: Device, reason: str, by, *, channel: Channel = Channel.PHONE, actor_label: str = ""
) -> Device:
    """Stop accepting a device's requests from its next request on (Req 9). The reason is for staff."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("Say why the device is disabled.", code="reason")
    if len(reason) > REASON_MAX_LENGTH:
        raise ValidationError(f"Keep the reason under {REASON_MAX_LENGTH} characters.", code="reason")
    with transaction.atomic():
        # Locked so a concurrent swap or disable sees the row as it is after this one.
        device = Device.objects.select_for_update().get(pk=device.pk)
        if not device.enabled:
            raise ValidationError(
                f"Device {device.lfdi} is already disabled ({device.disabled_reason}).", code="disabled"
            )
        before = snapshot(device, DEVICE_AUDIT_FIELDS)
        _disable(device, reason)
        record(
            action="device.disabled",
            target=device,
            channel=channel,
            actor=by,
            actor_label=actor_label,
            before=before,
            after=snapshot(device, DEVICE_AUDIT_FIELDS),
        )
    return device


def swap_device(
    old: Device,
    new_certificate: x509.Certificate,
    by,
    *,
    reason: str = "",
    channel: Channel = Channel.PHONE,
    actor_label: str = "",
) -> Device:
    """Replace a failed device by a new one at the same premise or PEV; the old row keeps its history.

    The replacement is registered like any device (same kind and place); the old one is disabled (if it is
    not already) and points at it; an ESCI's undelivered messages move to its replacement. Settings a CSR made
    for the old EUMD (interval, power limit) are not
    carried over: the new meter starts from the plan's interval until a CSR changes it (Req 25).
    """
    with transaction.atomic():
        # Locked first: two CSRs swapping the same device at once would otherwise both register a replacement.
        old = Device.objects.select_for_update(of=("self",)).select_related("premise", "pev").get(pk=old.pk)
        if old.replaced_by_id is not None:
            raise ValidationError(
                f"Device {old.lfdi} was already replaced by {old.replaced_by.lfdi}.", code="replaced"
            )
        new = register_device(
            old.kind,
            new_certificate,
            premise=old.premise,
            pev=old.pev,
            by=by,
            channel=channel,
            actor_label=actor_label,
        )
        before = snapshot(old, DEVICE_AUDIT_FIELDS)
        if old.enabled:
            _disable(old, (reason or "").strip()[:REASON_MAX_LENGTH] or f"Replaced by {new.lfdi}")
        old.replaced_by = new
        old.save(update_fields=["replaced_by"])
        if old.kind == DeviceKind.ESCI:
            # Undelivered utility messages are for the premise, not the box: the new ESCI relays them (the
            # signed payloads do not name the ESCI).
            DeviceMessage.objects.filter(esci=old, acked_at__isnull=True).update(esci=new)
        record(
            action="device.swapped",
            target=old,
            channel=channel,
            actor=by,
            actor_label=actor_label,
            before=before,
            after=snapshot(old, DEVICE_AUDIT_FIELDS),
            context={"replacement": new.lfdi},
        )
    return new


def _disable(device: Device, reason: str) -> None:
    device.enabled = False
    device.disabled_at = timezone.now()
    device.disabled_reason = reason
    device.save(update_fields=["enabled", "disabled_at", "disabled_reason"])


def _duplicate(existing: Device) -> ValidationError:
    place = existing.premise.premise_id if existing.premise else f"PEV {existing.pev.vin}"
    state = "enabled" if existing.enabled else "disabled"
    return ValidationError(
        f"This certificate is already registered: {existing.get_kind_display()} {existing.lfdi} at {place} "
        f"({state}, registered {existing.registered_at:%Y-%m-%d}).",
        code="duplicate",
    )
