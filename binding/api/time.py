"""`GET /device/v1/time`: the server's UTC clock for a device to set its own by (NF.1: devices keep UTC to
1 s). Signed like every device request; a device whose clock drifted too far to sign acceptably learns the
time from the `server_time` of the 401 instead."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from .base import DeviceAPIView
from .errors import device_error_responses, server_time


class DeviceTimeView(DeviceAPIView):
    @extend_schema(
        operation_id="device_time",
        summary="Server time (UTC, to the second)",
        tags=["device"],
        responses={
            200: inline_serializer(
                "DeviceTime", {"server_time": serializers.CharField(help_text="YYYY-MM-DDTHH:MM:SSZ")}
            ),
            **device_error_responses(401, 413, 429),
        },
    )
    def get(self, request):
        return Response({"server_time": server_time()})
