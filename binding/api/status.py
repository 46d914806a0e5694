"""`POST /device/v1/pev-status`: the ESCI reports the PEV's charging status (S4; Req 17, 24).

The view checks the body's form and calls `binding.charging.record_status`, which decides.
"""

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from binding import charging
from binding.api import serializers as api

from .base import DeviceAPIView
from .errors import device_error_responses, server_time
from .permissions import IsEsci
from .views import IDEMPOTENCY_KEY, handshake_errors


class PevStatusView(DeviceAPIView):
    permission_classes = [IsEsci]

    @extend_schema(
        operation_id="pev_status",
        summary="The PEV's charging status, from the ESCI of its binding (Req 17, 24)",
        description="Signed by the ESCI that created the binding. Accepted (202) for any session not yet "
        "over, bound or not: a declined or timed-out session still charges, at the premise's default rate, "
        "and the customer's live panel says so. A report whose `reported_at` is not later than the stored "
        "one (a retry, a late delivery) is accepted and ignored. 404 for another ESCI's binding, 409 once "
        "the PEV was unplugged or the session closed.",
        tags=["device"],
        parameters=[IDEMPOTENCY_KEY],
        request=api.PevStatusSerializer,
        responses={
            202: api.PevStatusResponseSerializer,
            **device_error_responses(400, 401, 403, 404, 409, 413, 429),
        },
    )
    def post(self, request):
        serializer = api.PevStatusSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        _, reported_at = data["reported_at"]
        report = charging.StatusReport(**{**data, "reported_at": reported_at})

        def record():
            now = timezone.now()
            with handshake_errors():
                charging.record_status(report, esci=request.auth, now=now)
            return Response(
                {"binding_id": str(report.binding_id), "received_at": server_time(now)},
                status=status.HTTP_202_ACCEPTED,
            )

        return self.idempotent(request, record)
