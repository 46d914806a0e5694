"""`POST /device/v1/readings`: an EUMD's interval reads, relayed unchanged by its ESCI (Req 20, 22)."""

import hashlib

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.response import Response

from binding.api.base import DeviceAPIView
from binding.api.errors import Conflict, device_error_responses
from binding.api.permissions import IsEumd
from metering import readings
from metering.api import serializers as api
from metering.api.parsers import FastJSONParser


class ReadingsView(DeviceAPIView):
    permission_classes = [IsEumd]
    parser_classes = [FastJSONParser]

    def get_max_body_bytes(self) -> int:
        return settings.METERING_MAX_BATCH_BYTES

    @extend_schema(
        operation_id="readings_create",
        summary="An EUMD's interval reads (Req 20, 22, 25)",
        description="Signed by the EUMD itself. Each read is stored once: the answer counts reads accepted, "
        "duplicates (identical re-sends) and conflicts (kept for CSR review), and lists the rejected ones by "
        "index with the reason. The same `batch_id` again returns the first answer "
        "(`Idempotent-Replayed: true`); the same `batch_id` with another payload is a 409.",
        tags=["device"],
        request=api.ReadingBatchSerializer,
        responses={
            200: OpenApiResponse(api.ReadingBatchResultSerializer),
            **device_error_responses(400, 401, 403, 409, 413, 429),
        },
    )
    def post(self, request):
        data = request.data
        if not isinstance(data, dict):
            raise exceptions.ValidationError({"non_field_errors": ["The body must be a JSON object."]})
        batch = readings.Batch(
            eumd=request.auth,
            batch_id=data.get("batch_id"),
            reads=data.get("reads"),
            request_sha256=hashlib.sha256(request.body).hexdigest(),
            relay=request.user.relay,
            signed_at=request.user.signed_at,
        )
        try:
            result, replayed = readings.receive(batch, now=timezone.now())
        except readings.InvalidBatch as error:
            raise exceptions.ValidationError(error.detail) from error
        except readings.BatchConflict as error:
            raise Conflict(str(error)) from error
        return Response(result, headers={"Idempotent-Replayed": "true"} if replayed else None)
