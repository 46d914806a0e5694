"""The binding handshake and the device outbox over HTTP (docs/device-api.md). Each view checks the body's
form and calls one function of binding/handshake.py or binding/messages.py, which decides."""

import contextlib

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response

from binding import handshake, messages, nonces
from binding.api import serializers as api

from .authentication import replayed
from .base import DeviceAPIView
from .errors import Conflict, device_error_responses
from .permissions import IsEsci, IsEumd

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    location=OpenApiParameter.HEADER,
    required=False,
    description="A retry with the same key and body gets the original response; another body gets 409.",
)


@contextlib.contextmanager
def handshake_errors():
    """The handshake's refusals as the device error catalogue."""
    try:
        yield
    except handshake.InvalidRequest as error:
        raise exceptions.ValidationError(error.detail) from error
    except handshake.ForeignPremise as error:
        raise exceptions.PermissionDenied(error.detail) from error
    except (handshake.BindingNotFound, messages.MessageNotFound) as error:
        raise exceptions.NotFound("No such binding or message for this device.") from error
    except handshake.Conflict as error:
        raise Conflict(error.detail) from error
    except nonces.Replayed as error:
        raise replayed(error.device) from error


class BindingCreateView(DeviceAPIView):
    permission_classes = [IsEsci]

    def defers_nonce(self, request) -> bool:
        # The plug-in stores the nonce in the statement that stores the binding: the evening peak's hot path.
        return "Idempotency-Key" not in request.headers

    @extend_schema(
        operation_id="binding_create",
        summary="A PEV plugged in: validate PEV ID and premise ID (Req 6–14, 28)",
        description="Always 201 for a well-formed request: `awaiting_pev_ack` (commissioning), `bound` "
        "(re-binding, guest) or `unbound` with `fallback: premise_default_rate` (charging proceeds).",
        tags=["device"],
        parameters=[IDEMPOTENCY_KEY],
        request=api.BindingRequestSerializer,
        responses={
            201: api.BindingResponseSerializer,
            **device_error_responses(400, 401, 403, 409, 413, 429),
        },
    )
    def post(self, request):
        serializer = api.BindingRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        text, moment = data["plugged_in_at"]
        plug = handshake.PlugIn(
            esci=request.auth,
            vin=data["pev_id"],
            premise_id=data["premise_id"],
            eumd_lfdi=data["eumd_lfdi"],
            plugged_in_at=moment,
            plugged_in_at_text=text,
            pev_public_key=data.get("pev_public_key"),
            pev_proof=data.get("pev_proof"),
        )

        def create():
            with handshake_errors():
                binding = handshake.request_binding(
                    plug, now=timezone.now(), nonce=getattr(request, "deferred_nonce", None)
                )
            return Response(binding.response, status=status.HTTP_201_CREATED)

        return self.idempotent(request, create)


class BindingDetailView(DeviceAPIView):
    """The binding as its ESCI or EUMD may read it, with the state as of now."""

    @extend_schema(
        operation_id="binding_detail",
        summary="A binding's state",
        tags=["device"],
        responses={200: api.BindingSerializer, **device_error_responses(401, 404, 429)},
    )
    def get(self, request, binding_id):
        with handshake_errors():
            binding = handshake.binding_for(binding_id, request.auth, now=timezone.now())
        return Response(api.BindingSerializer(binding).data)


class PevAckView(DeviceAPIView):
    permission_classes = [IsEsci]

    @extend_schema(
        operation_id="binding_pev_ack",
        summary="The PEV acknowledges its parameters (steps 12–14, Req 19, 23)",
        tags=["device"],
        parameters=[IDEMPOTENCY_KEY],
        request=api.PevAckSerializer,
        responses={
            200: api.PevAckResponseSerializer,
            **device_error_responses(400, 401, 403, 404, 409, 413, 429),
        },
    )
    def post(self, request, binding_id):
        serializer = api.PevAckSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)

        def acknowledge():
            with handshake_errors():
                binding, discovery = handshake.confirm_pev_ack(
                    binding_id, esci=request.auth, now=timezone.now(), **serializer.validated_data
                )
            return Response(
                {"binding_id": str(binding.pk), "state": binding.state, "eumd_discovery": discovery}
            )

        return self.idempotent(request, acknowledge)


class EumdAckView(DeviceAPIView):
    permission_classes = [IsEumd]

    @extend_schema(
        operation_id="binding_eumd_ack",
        summary="The EUMD acknowledges its discovery: bound (steps 15–16, Req 24, 27)",
        description="Signed by the EUMD itself; the ESCI relays it unchanged.",
        tags=["device"],
        parameters=[IDEMPOTENCY_KEY],
        request=api.EumdAckSerializer,
        responses={
            200: api.EumdAckResponseSerializer,
            **device_error_responses(400, 401, 403, 404, 409, 413, 429),
        },
    )
    def post(self, request, binding_id):
        serializer = api.EumdAckSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)

        def acknowledge():
            with handshake_errors():
                binding, confirmation = handshake.confirm_eumd_ack(
                    binding_id, eumd=request.auth, now=timezone.now(), **serializer.validated_data
                )
            return Response(
                {"binding_id": str(binding.pk), "state": binding.state, "pev_confirmation": confirmation}
            )

        return self.idempotent(request, acknowledge)


class BindingEndView(DeviceAPIView):
    permission_classes = [IsEsci]

    @extend_schema(
        operation_id="binding_end",
        summary="The PEV was unplugged",
        tags=["device"],
        parameters=[IDEMPOTENCY_KEY],
        request=api.EndSerializer,
        responses={200: api.BindingSerializer, **device_error_responses(400, 401, 403, 404, 413, 429)},
    )
    def post(self, request, binding_id):
        serializer = api.EndSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        _, unplugged_at = serializer.validated_data["unplugged_at"]

        def end():
            with handshake_errors():
                binding = handshake.end_binding(
                    binding_id, esci=request.auth, unplugged_at=unplugged_at, now=timezone.now()
                )
            return Response(api.BindingSerializer(binding).data)

        return self.idempotent(request, end)


class MessageSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.CharField()
    recipient = serializers.CharField(help_text="esci, eumd or pev: who the ESCI relays it to.")
    recipient_id = serializers.CharField(help_text="The EUMD's LFDI or the PEV's VIN.")
    created_at = api.UtcSecondField()
    jws = serializers.CharField(help_text="The message, signed by the utility (JWS compact, ES256).")


class MessageListView(DeviceAPIView):
    permission_classes = [IsEsci]

    @extend_schema(
        operation_id="device_messages",
        summary="Messages for the ESCI to relay, until acknowledged (Req 18, 25, 26)",
        tags=["device"],
        responses={
            200: inline_serializer("DeviceMessages", {"messages": MessageSerializer(many=True)}),
            **device_error_responses(401, 403, 429),
        },
    )
    def get(self, request):
        pending = messages.pending_for(request.auth, now=timezone.now())
        return Response({"messages": MessageSerializer(pending, many=True).data})


class MessageAckView(DeviceAPIView):
    permission_classes = [IsEsci]

    @extend_schema(
        operation_id="device_message_ack",
        summary="The message was delivered (idempotent)",
        tags=["device"],
        request=None,
        responses={
            200: inline_serializer(
                "DeviceMessageAck", {"id": serializers.UUIDField(), "acked_at": serializers.DateTimeField()}
            ),
            **device_error_responses(401, 403, 404, 429),
        },
    )
    def post(self, request, message_id):
        with handshake_errors():
            message = messages.acknowledge(message_id, esci=request.auth, now=timezone.now())
        return Response(
            {"id": str(message.pk), "acked_at": api.UtcSecondField().to_representation(message.acked_at)}
        )
