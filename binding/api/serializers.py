"""Request and response shapes of the device API. They check form only; binding/handshake.py decides."""

import copy
import re
from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from binding.clock import parse_utc_second, utc_second
from binding.models import LFDI_LENGTH

_UTC_SECOND = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_VIN = re.compile(r"^[0-9A-HJ-NPR-Z]{17}$")
_LFDI = re.compile(r"^[0-9a-f]{40}$")


@extend_schema_field(
    {
        "type": "string",
        "format": "date-time",
        "pattern": _UTC_SECOND.pattern,
        "example": "2026-11-26T18:00:00Z",
    }
)
class UtcSecondField(serializers.Field):
    """A UTC instant written exactly `YYYY-MM-DDTHH:MM:SSZ` (NF.1); the text is kept, PEV proofs sign it."""

    default_error_messages = {"invalid": "Use exactly YYYY-MM-DDTHH:MM:SSZ (UTC, whole seconds)."}

    def to_internal_value(self, data):
        if not isinstance(data, str) or not _UTC_SECOND.match(data):
            self.fail("invalid")
        try:
            moment = parse_utc_second(data)
        except ValueError:
            self.fail("invalid")
        return data, moment

    def to_representation(self, value):
        return utc_second(value)


class DeviceRequestSerializer(serializers.Serializer):
    """The form of a device request's body: a flat serializer whose fields are copied one level per request.

    DRF deep-copies a serializer's declared fields for every instance, running each field's __init__ again,
    so that binding a field to the instance leaves the class's own untouched. A shallow copy keeps that:
    bind() sets its attributes on the copy, and what the copies share (validators, error messages, a
    DictField's child) is only read. At the evening peak that is 0.1-0.2 ms of every plug-in's CPU
    (bench/binding.py). A nested serializer would share its own fields, so none may be declared here.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        nested = [
            name
            for name, field in cls._declared_fields.items()
            if isinstance(field, serializers.BaseSerializer)
        ]
        if nested:
            raise TypeError(f"{cls.__name__}: nested serializers need deep copies ({', '.join(nested)})")

    def get_fields(self):
        return {name: copy.copy(field) for name, field in self._declared_fields.items()}


class BindingRequestSerializer(DeviceRequestSerializer):
    pev_id = serializers.RegexField(
        _VIN, help_text="The PEV's VIN: 17 characters of 0-9 A-Z without I, O, Q (uppercase)."
    )
    premise_id = serializers.CharField(max_length=32)
    eumd_lfdi = serializers.RegexField(_LFDI, max_length=LFDI_LENGTH, help_text="40 lowercase hex digits.")
    plugged_in_at = UtcSecondField(help_text="YYYY-MM-DDTHH:MM:SSZ, within the plan's timeout of now.")
    pev_public_key = serializers.DictField(
        required=False, help_text="Initial commissioning: the PEV's public key, an EC P-256 JWK."
    )
    pev_proof = serializers.CharField(
        required=False,
        max_length=128,
        help_text="Re-binding and guests: the PEV's signature (r‖s, base64url) over "
        "`{pev_id}|{premise_id}|{esci_lfdi}|{plugged_in_at}`.",
    )


class PevAckSerializer(DeviceRequestSerializer):
    parameters_version = serializers.CharField(max_length=32)
    pev_signature = serializers.CharField(
        max_length=128,
        help_text="The PEV's signature (r‖s, base64url) over `{binding_id}|{parameters_version}`.",
    )


class EumdAckSerializer(DeviceRequestSerializer):
    parameters_version = serializers.CharField(max_length=32)
    interval_seconds = serializers.IntegerField(min_value=60, max_value=3600)


class EndSerializer(DeviceRequestSerializer):
    unplugged_at = UtcSecondField(help_text="YYYY-MM-DDTHH:MM:SSZ.")


class BindingSerializer(serializers.Serializer):
    """What a device reads back; `reason` is always the generic one (no VIN probing)."""

    binding_id = serializers.UUIDField(source="pk")
    state = serializers.CharField()
    kind = serializers.CharField(allow_blank=True)
    plugged_in_at = UtcSecondField()
    expires_at = UtcSecondField(source="handshake_deadline", allow_null=True)
    unplugged_at = UtcSecondField(allow_null=True)


class BindingResponseSerializer(serializers.Serializer):
    """The 201 of `POST /device/v1/bindings` (for the schema; the view returns the stored response)."""

    binding_id = serializers.UUIDField()
    state = serializers.ChoiceField(choices=["awaiting_pev_ack", "bound", "unbound"])
    plugged_in_at = serializers.CharField()
    kind = serializers.ChoiceField(choices=["commissioning", "rebinding", "guest"], required=False)
    interval_seconds = serializers.IntegerField(required=False)
    expires_at = serializers.CharField(
        required=False, help_text="Commissioning: finish the handshake by then."
    )
    pev_parameters = serializers.CharField(
        required=False, help_text="Commissioning: utility JWS for the PEV."
    )
    eumd_confirmation = serializers.CharField(required=False, help_text="Re-binding/guest: JWS for the EUMD.")
    pev_confirmation = serializers.CharField(required=False, help_text="Re-binding/guest: JWS for the PEV.")
    reason = serializers.CharField(required=False, help_text="Declined: always `not_validated`.")
    fallback = serializers.CharField(required=False, help_text="Declined: `premise_default_rate`.")


class PevAckResponseSerializer(serializers.Serializer):
    binding_id = serializers.UUIDField()
    state = serializers.CharField()
    eumd_discovery = serializers.CharField(help_text="Utility JWS for the EUMD: interval length, version.")


class EumdAckResponseSerializer(serializers.Serializer):
    binding_id = serializers.UUIDField()
    state = serializers.CharField()
    pev_confirmation = serializers.CharField(help_text="Utility JWS telling the PEV it is bound.")


class _StrictNumberMixin:
    """A JSON number, not a numeric string or a boolean: devices send what the schema says."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


class _JsonInteger(_StrictNumberMixin, serializers.IntegerField):
    pass


class _JsonDecimal(_StrictNumberMixin, serializers.DecimalField):
    pass


class PevStatusSerializer(DeviceRequestSerializer):
    """`POST /device/v1/pev-status`: the PEV's charging status as the ESCI sees it (Req 17, 24)."""

    binding_id = serializers.UUIDField()
    reported_at = UtcSecondField(help_text="When the status was read: YYYY-MM-DDTHH:MM:SSZ (UTC).")
    charging_state = serializers.ChoiceField(choices=["charging", "idle", "complete", "fault"])
    state_of_charge = _JsonDecimal(
        max_digits=None,
        decimal_places=None,
        coerce_to_string=False,
        min_value=0,
        max_value=100,
        help_text="Battery state of charge in percent, 0–100 (kept to 0.01).",
    )
    power_w = _JsonInteger(min_value=0, max_value=1_000_000, help_text="Power drawn now, in watts.")
    time_to_complete_s = _JsonInteger(
        min_value=0,
        max_value=30 * 24 * 3600,
        allow_null=True,
        required=False,
        default=None,
        help_text="Seconds until the charge completes; null when the PEV does not say.",
    )
    session_energy_wh = _JsonInteger(
        min_value=0, max_value=10**9, help_text="Energy drawn since the plug-in, in watt-hours."
    )

    def validate_state_of_charge(self, value):
        return value.quantize(Decimal("0.01"))


class PevStatusResponseSerializer(serializers.Serializer):
    binding_id = serializers.UUIDField()
    received_at = serializers.CharField(help_text="The server's UTC clock when it took the report.")
