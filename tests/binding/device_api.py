"""Test-only device endpoints (a URLconf for `pytest.mark.urls`) and a signer that can forge any parameter.

The endpoints stand in for the handshake views: they use `DeviceAPIView` exactly as a real view does.
"""

import datetime as dt
import re
import secrets
import uuid

from django.urls import path
from http_message_signatures import HTTPMessageSigner, MappingKeyResolver, algorithms
from http_message_signatures.structures import CaseInsensitiveDict
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from binding.api.base import DeviceAPIView
from binding.api.errors import Conflict
from binding.api.permissions import IsEsci, IsEumd
from binding.api.time import DeviceTimeView

URLCONF = __name__
BASE = "http://testserver"
FRESH = object()


class CountSerializer(serializers.Serializer):
    count = serializers.IntegerField(min_value=0)


class EchoView(DeviceAPIView):
    """Says who signed and what arrived."""

    def post(self, request):
        return Response(
            {
                "lfdi": request.auth.lfdi,
                "user": str(request.user),
                "user_is_authenticated": request.user.is_authenticated,
                "relay": request.user.relay and request.user.relay.lfdi,
                "received": request.data,
            },
            status=201,
        )


class CountView(DeviceAPIView):
    """Validates its body: the 400 shape of the catalogue."""

    def post(self, request):
        serializer = CountSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(serializer.validated_data)


class EsciOnlyView(DeviceAPIView):
    permission_classes = [IsEsci]

    def post(self, request):
        return Response({"ok": True})


class EumdOnlyView(DeviceAPIView):
    permission_classes = [IsEumd]

    def post(self, request):
        return Response({"ok": True})


class LargeBodyView(DeviceAPIView):
    max_body_bytes = 256 * 1024

    def post(self, request):
        return Response({"bytes": len(request.body)})


class IdempotentView(DeviceAPIView):
    """Creates something new each time it really runs; `{"refuse": "conflict"|"missing"}` makes it refuse.

    A test that sets `barrier` holds each run there until all parties have arrived (a race, on purpose).
    """

    runs = 0
    barrier = None

    def post(self, request):
        def create():
            IdempotentView.runs += 1
            if IdempotentView.barrier is not None:
                IdempotentView.barrier.wait(timeout=10)
            refuse = request.data.get("refuse")
            if refuse == "conflict":
                raise Conflict("the thing is in another state")
            if refuse == "missing":
                raise NotFound("no such thing for this device")
            return Response({"id": uuid.uuid4(), "run": IdempotentView.runs}, status=201)

        return self.idempotent(request, create)


urlpatterns = [
    path("device/v1/time", DeviceTimeView.as_view(), name="device-time"),
    path("device/v1/echo", EchoView.as_view()),
    path("device/v1/count", CountView.as_view()),
    path("device/v1/esci-only", EsciOnlyView.as_view()),
    path("device/v1/eumd-only", EumdOnlyView.as_view()),
    path("device/v1/large", LargeBodyView.as_view()),
    path("device/v1/idempotent", IdempotentView.as_view()),
]


def forge(
    key,
    keyid: str,
    method: str,
    url: str,
    body: bytes | None = None,
    *,
    created: dt.datetime | None = None,
    nonce=FRESH,
    components=("@method", "@target-uri"),
    headers: dict | None = None,
) -> dict[str, str]:
    """Signature headers with every parameter under the test's control (DeviceSigner signs correctly)."""
    message = _Message(method, url, CaseInsensitiveDict(headers or {}))
    HTTPMessageSigner(
        signature_algorithm=algorithms.ECDSA_P256_SHA256,
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={keyid: key}),
    ).sign(
        message,
        key_id=keyid,
        created=created or dt.datetime.now(dt.UTC),
        nonce=secrets.token_urlsafe(16) if nonce is FRESH else nonce,
        label="sig",
        covered_component_ids=components,
        body=body,
    )
    return dict(message.headers.items())


class _Message:
    def __init__(self, method, url, headers):
        self.method, self.url, self.headers = method, url, headers


def send(client, method: str, path: str, headers: dict, body: bytes = b"", **extra):
    """Send through Django's test client; Content-Type is the client's, never a signed header here."""
    return client.generic(method, path, data=body, content_type="application/json", headers=headers, **extra)


def assert_refused(response, reason: str) -> dict:
    """A 401 of the catalogue: the reason, the server's clock for resync, and WWW-Authenticate."""
    assert response.status_code == 401, response.content
    body = response.json()
    assert body["error"] == "authentication"
    assert body["reason"] == reason, body
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["server_time"])
    assert response.headers["WWW-Authenticate"] == 'Signature realm="device-api"'
    return body
