"""The device API's error catalogue (docs/device-api.md): one JSON shape for every refusal.

`{"error": "<code>", "detail": "<what is wrong, for the installer reading the device log>", ...}` with

| status | error | extra members |
|---|---|---|
| 400 | `malformed` | `field_errors` (messages per field) when the body did not validate |
| 401 | `authentication` | `reason` (e.g. `expired`, `replayed`) and `server_time`, always: a drifted
  device resyncs its clock from it (NF.1) |
| 403 | `forbidden` | — wrong device kind, or a premise the device does not belong to |
| 404 | `not_found` | — an unknown binding, or one that belongs to another device (the same answer for both) |
| 409 | `conflict` | — state conflict (a late ack) or an Idempotency-Key reused with another body |
| 413 | `too_large` | `max_bytes` |
| 429 | `rate_limited` | `retry_after` (seconds), also sent as the `Retry-After` header |

401 responses carry `WWW-Authenticate: Signature realm="device-api"`. The handler is installed per view by
`DeviceAPIView`, so the rest of the API keeps DRF's default shape. A well-formed binding request the utility
declines is not an error: it is a `201` with an `unbound` binding.
"""

import datetime as dt
import math

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from binding.clock import utc_second

ERROR_CODES = {
    status.HTTP_400_BAD_REQUEST: "malformed",
    status.HTTP_401_UNAUTHORIZED: "authentication",
    status.HTTP_403_FORBIDDEN: "forbidden",
    status.HTTP_404_NOT_FOUND: "not_found",
    status.HTTP_405_METHOD_NOT_ALLOWED: "method_not_allowed",
    status.HTTP_406_NOT_ACCEPTABLE: "not_acceptable",
    status.HTTP_409_CONFLICT: "conflict",
    status.HTTP_413_REQUEST_ENTITY_TOO_LARGE: "too_large",
    status.HTTP_415_UNSUPPORTED_MEDIA_TYPE: "unsupported_media_type",
    status.HTTP_429_TOO_MANY_REQUESTS: "rate_limited",
}


def server_time(now: dt.datetime | None = None) -> str:
    """UTC to the second, `YYYY-MM-DDTHH:MM:SSZ`: the one timestamp format devices send and read (NF.1)."""
    return utc_second(now or timezone.now())


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"

    def __init__(self, max_bytes: int):
        super().__init__(f"The request body is larger than this endpoint accepts ({max_bytes} bytes).")
        self.max_bytes = max_bytes


def device_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF exception handler for the device API: the catalogue above. Anything else stays a 500."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    if not isinstance(exc, exceptions.APIException):
        return None

    code = ERROR_CODES.get(exc.status_code, "error")
    body: dict = {"error": code}
    headers = {}
    if isinstance(exc.detail, dict):
        body["detail"] = "The request body is not valid."
        body["field_errors"] = exc.detail
    elif isinstance(exc.detail, list):
        body["detail"] = " ".join(str(message) for message in exc.detail)
    else:
        body["detail"] = str(exc.detail)

    if exc.status_code == status.HTTP_401_UNAUTHORIZED:
        body["reason"] = getattr(exc.detail, "code", "authentication_failed")
        body["server_time"] = server_time()
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
    elif isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        # Round up: a device that waits the advertised time must find its budget restored.
        retry_after = max(1, math.ceil(exc.wait))
        body["retry_after"] = retry_after
        headers["Retry-After"] = str(retry_after)
    elif isinstance(exc, RequestTooLarge):
        body["max_bytes"] = exc.max_bytes

    set_rollback()
    return Response(body, status=exc.status_code, headers=headers)


# --- OpenAPI ----------------------------------------------------------------------------------------


class DeviceErrorSerializer(serializers.Serializer):
    error = serializers.ChoiceField(choices=sorted(set(ERROR_CODES.values())))
    detail = serializers.CharField(help_text="What is wrong, in words for the installer reading the log.")


class DeviceValidationErrorSerializer(DeviceErrorSerializer):
    field_errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Messages per body field, when the body did not validate.",
    )


class DeviceAuthenticationErrorSerializer(DeviceErrorSerializer):
    reason = serializers.CharField(
        help_text="Why the signature was refused: unsigned, malformed_signature, multiple_signatures, "
        "unsupported_algorithm, bad_keyid, expired, created_in_future, missing_nonce, insufficient_coverage, "
        "client_certificate_mismatch, unknown_device, device_disabled, certificate_expired, digest_mismatch, "
        "bad_signature, replayed."
    )
    server_time = serializers.CharField(help_text="The server's UTC clock, YYYY-MM-DDTHH:MM:SSZ (NF.1).")


class DeviceTooLargeErrorSerializer(DeviceErrorSerializer):
    max_bytes = serializers.IntegerField()


class DeviceRateLimitErrorSerializer(DeviceErrorSerializer):
    retry_after = serializers.IntegerField(help_text="Seconds to wait; also the Retry-After header.")


DEVICE_ERROR_RESPONSES = {
    400: OpenApiResponse(DeviceValidationErrorSerializer, description="Malformed JSON, wrong types."),
    401: OpenApiResponse(
        DeviceAuthenticationErrorSerializer,
        description="The HTTP message signature is missing or refused (WWW-Authenticate: Signature). "
        "`server_time` lets a device with a drifted clock resync.",
    ),
    403: OpenApiResponse(
        DeviceErrorSerializer, description="Wrong device kind, or not this device's premise."
    ),
    404: OpenApiResponse(DeviceErrorSerializer, description="Unknown binding, or another device's binding."),
    409: OpenApiResponse(
        DeviceErrorSerializer,
        description="State conflict (e.g. an ack after the timeout), or an Idempotency-Key reused with "
        "another body.",
    ),
    413: OpenApiResponse(DeviceTooLargeErrorSerializer, description="The body is larger than allowed."),
    429: OpenApiResponse(
        DeviceRateLimitErrorSerializer, description="Per-device rate limit; retry after Retry-After seconds."
    ),
}


def device_error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """The catalogue entries an endpoint can answer, for `@extend_schema(responses={201: ..., **these})`."""
    return {code: DEVICE_ERROR_RESPONSES[code] for code in statuses}
