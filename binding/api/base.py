"""The base of every device API view: signed requests, per-device rate limit, body limit, the error
catalogue and Idempotency-Key replay (Req 9; docs/device-api.md).

    class BindingCreateView(DeviceAPIView):
        permission_classes = [IsEsci]          # default: IsDevice (any kind)
        max_body_bytes = 4 * 1024 * 1024       # default: DEVICE_MAX_BODY_BYTES

        @extend_schema(request=..., responses={201: ..., **device_error_responses(400, 401, 403, 409, 413)})
        def post(self, request):
            serializer = PlugInSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            return self.idempotent(request, lambda: Response(request_binding(...), status=201))

In a view, `request.auth` is the signing `Device` and `request.user` a `DevicePrincipal`.
"""

import hashlib
import json
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError, transaction
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from binding.models import IdempotentResponse
from binding.nonces import Replayed

from .authentication import DeviceSignatureAuthentication, replayed
from .errors import Conflict, RequestTooLarge, device_exception_handler
from .permissions import IsDevice
from .throttling import DeviceRateThrottle

IDEMPOTENCY_KEY_MAX_LENGTH = 128  # IdempotentResponse.key
# 401 and 429 say nothing about the request itself: a retry must be able to succeed.
NOT_REPLAYED = frozenset({status.HTTP_401_UNAUTHORIZED, status.HTTP_429_TOO_MANY_REQUESTS})


class DeviceAPIView(APIView):
    """A signed device endpoint. See the module docstring for how a view uses it."""

    authentication_classes = [DeviceSignatureAuthentication]
    permission_classes = [IsDevice]
    throttle_classes = [DeviceRateThrottle]
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]
    #: Largest accepted body in bytes; None means DEVICE_MAX_BODY_BYTES. Checked before anything else (413).
    max_body_bytes: int | None = None

    def get_exception_handler(self):
        return device_exception_handler

    def defers_nonce(self, request) -> bool:
        """Whether this view records the signature's nonce with its own first write (`request.deferred_nonce`,
        binding/nonces.py) rather than authentication recording it first. A view that does writes nothing
        before it; `finalize_response` records it after a view that did not. Never with an Idempotency-Key,
        whose work runs in a transaction that may roll back."""
        return False

    def finalize_response(self, request, response, *args, **kwargs):
        nonce = getattr(request, "deferred_nonce", None)
        if nonce is not None and not nonce.recorded:
            try:
                nonce.record()
            except Replayed:
                response = self.handle_exception(replayed(nonce.device))
        return super().finalize_response(request, response, *args, **kwargs)

    def get_max_body_bytes(self) -> int:
        return self.max_body_bytes if self.max_body_bytes is not None else settings.DEVICE_MAX_BODY_BYTES

    def initial(self, request, *args, **kwargs):
        # Before authentication: an oversized body is refused before it is read, hashed or verified.
        self.check_body_size(request)
        super().initial(request, *args, **kwargs)

    def check_body_size(self, request) -> None:
        limit = self.get_max_body_bytes()
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise exceptions.ParseError("Content-Length is not a number.") from None
        if declared > limit:
            raise RequestTooLarge(limit)
        try:
            body = request.body
        except RequestDataTooBig:
            # Django's DATA_UPLOAD_MAX_MEMORY_SIZE is lower than this view's limit.
            raise RequestTooLarge(limit) from None
        # A body sent without Content-Length (chunked, under ASGI) is only known once read.
        if len(body) > limit:
            raise RequestTooLarge(limit)

    def idempotent(self, request, produce: Callable[[], Response]) -> Response:
        """Run `produce` once per Idempotency-Key: a retry with the same key and body gets its response.

        Without the header, `produce()` simply runs. With it, scoped to the signing device: a stored response
        for the key is replayed (header `Idempotent-Replayed: true`) if the body's SHA-256 matches, else 409.
        Otherwise `produce()` runs in a transaction together with storing its response — 2xx, or a 4xx it
        raised or returned (except 401/429) — so the work and the record commit or roll back together. The
        stored hash covers the method, path and body: the same key on another endpoint or binding is a 409.
        """
        key = _idempotency_key(request)
        if key is None:
            return produce()
        device = request.auth
        # The method and path are part of the request: a key reused on another binding is not a replay.
        request_sha256 = hashlib.sha256(
            f"{request.method} {request.path}\n".encode() + request.body
        ).hexdigest()
        stored = IdempotentResponse.objects.filter(device=device, key=key).first()
        if stored is None:
            try:
                with transaction.atomic():
                    response = self._produce(produce)
                    if _storable(response.status_code):
                        IdempotentResponse.objects.create(
                            device=device,
                            key=key,
                            request_sha256=request_sha256,
                            status_code=response.status_code,
                            body=_json(response.data),
                        )
                return response
            except IntegrityError:
                # Two copies of one request raced; the unique (device, key) let the first store its
                # response and rolled this one's work back. Answer what the first answered.
                stored = IdempotentResponse.objects.filter(device=device, key=key).first()
                if stored is None:
                    raise
        if stored.request_sha256 != request_sha256:
            raise Conflict(f"Idempotency-Key {key!r} was already used for a different request.")
        data = None if stored.status_code == status.HTTP_204_NO_CONTENT else stored.body
        return Response(data, status=stored.status_code, headers={"Idempotent-Replayed": "true"})

    def _produce(self, produce: Callable[[], Response]) -> Response:
        # No savepoint around the view: what it committed before refusing (a binding's event log, a timeout
        # it persisted) is part of the answer and stays, as it does for a request without a key. Views keep
        # their own all-or-nothing work in their own atomic blocks.
        try:
            return produce()
        except exceptions.APIException as exc:
            if exc.status_code in NOT_REPLAYED:
                raise
            return self.handle_exception(exc)


def _idempotency_key(request) -> str | None:
    value = request.headers.get("Idempotency-Key")
    if value is None:
        return None
    # The IETF draft sends the key as a Structured Field string ("…"); a bare token is accepted too.
    key = value.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not key or len(key) > IDEMPOTENCY_KEY_MAX_LENGTH or not key.isascii() or not key.isprintable():
        raise exceptions.ParseError(
            f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX_LENGTH} printable ASCII characters."
        )
    return key


def _storable(status_code: int) -> bool:
    return 200 <= status_code < 300 or (400 <= status_code < 500 and status_code not in NOT_REPLAYED)


def _json(data) -> object:
    """The response data as it goes on the wire (UUIDs, datetimes rendered), for the JSON column."""
    return {} if data is None else json.loads(JSONRenderer().render(data))
