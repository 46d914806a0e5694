"""The read-only customer API for displays and energy managers (docs/displays.md).

A request is either a display's bearer token (django-oauth-toolkit) carrying the endpoint's scope, or the
signed-in customer's own session. Either way it sees only the data of that customer's linked accounts
(`UtilityAccount.objects.for_user`): another customer's bill is a 404.
"""

from django.db.models import Prefetch
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view, inline_serializer
from oauth2_provider.contrib.rest_framework import IsAuthenticatedOrTokenHasScope, OAuth2Authentication
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.generics import ListAPIView, RetrieveAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.models import Bill, BillLine
from binding.live import live_panels
from enrollment.models import UtilityAccount
from pevportal.displays.api import schema  # noqa: F401  (registers the OAuth2 device-flow security scheme)
from pevportal.displays.api.serializers import (
    BillDetailSerializer,
    BillSerializer,
    UsageQuerySerializer,
    UsageSerializer,
)
from pevportal.displays.usage import daily_usage


class CustomerReadView(APIView):
    authentication_classes = [OAuth2Authentication, SessionAuthentication]
    permission_classes = [IsAuthenticatedOrTokenHasScope]
    required_scopes: list[str] = []

    def accounts(self):
        return UtilityAccount.objects.for_user(self.request.user)


class LiveView(CustomerReadView):
    required_scopes = ["live:read"]

    @extend_schema(
        operation_id="customer_live",
        tags=["customer"],
        summary="Live charging panels",
        description=(
            "The live charging panel of each PEV charging or plugged in at the customer's premises, and of "
            "the customer's PEVs charging as guests elsewhere: the same objects the WebSocket "
            "`/ws/api/v1/live` sends as `live.panel` events. Scope `live:read`."
        ),
        responses={
            200: inline_serializer(
                "LivePanels", {"panels": serializers.ListField(child=serializers.DictField())}
            )
        },
    )
    def get(self, request):
        return Response({"panels": live_panels(self.accounts().values_list("pk", flat=True))})


class UsageView(CustomerReadView):
    required_scopes = ["usage:read"]

    @extend_schema(
        operation_id="customer_usage",
        tags=["customer"],
        summary="Daily energy by premise and TOU period",
        description=(
            "Energy per local day and TOU period at each of the customer's premises: the premise meter "
            "(whole home), the PEV submeters and the rest of the home. At most 366 days per request; "
            "days with no reads are left out. Scope `usage:read`."
        ),
        parameters=[
            OpenApiParameter("start", OpenApiTypes.DATE, required=True, description="First local day"),
            OpenApiParameter(
                "end", OpenApiTypes.DATE, required=True, description="Last local day (included)"
            ),
        ],
        responses={200: UsageSerializer},
    )
    def get(self, request):
        query = UsageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        start, end = query.validated_data["start"], query.validated_data["end"]
        premises = daily_usage(self.accounts(), start, end)
        return Response(UsageSerializer({"start": start, "end": end, "premises": premises}).data)


class BillsMixin:
    authentication_classes = [OAuth2Authentication, SessionAuthentication]
    permission_classes = [IsAuthenticatedOrTokenHasScope]
    required_scopes = ["bills:read"]
    pagination_class = None

    def get_queryset(self):
        return Bill.objects.filter(
            account__in=UtilityAccount.objects.for_user(self.request.user)
        ).select_related("account", "premise")


@extend_schema_view(
    get=extend_schema(
        operation_id="customer_bills_list",
        tags=["customer"],
        summary="The customer's bills, newest first",
        description="Every issued bill of the customer's linked accounts. Scope `bills:read`.",
    )
)
class BillListView(BillsMixin, ListAPIView):
    serializer_class = BillSerializer


@extend_schema_view(
    get=extend_schema(
        operation_id="customer_bills_retrieve",
        tags=["customer"],
        summary="One bill with its lines",
        description="A bill of the customer's linked accounts with its lines; any other id is 404. "
        "Scope `bills:read`.",
    )
)
class BillDetailView(BillsMixin, RetrieveAPIView):
    serializer_class = BillDetailSerializer

    def get_queryset(self):
        lines = BillLine.objects.select_related("tariff", "enrollment__pev").order_by("position")
        return super().get_queryset().prefetch_related(Prefetch("lines", queryset=lines))
