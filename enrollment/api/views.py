from django.db.models import Prefetch
from rest_framework import viewsets
from rest_framework.permissions import AllowAny

from enrollment.api.serializers import PevProgramSerializer
from enrollment.models import PevProgram, ServicePlan


class PevProgramViewSet(viewsets.ReadOnlyModelViewSet):
    """Public: the PEV programmes open for enrollment and their plans (Req 1, 2)."""

    serializer_class = PevProgramSerializer
    permission_classes = [AllowAny]
    authentication_classes = []
    lookup_field = "code"

    def get_queryset(self):
        plans = ServicePlan.objects.offered_with_tariffs()
        return PevProgram.objects.filter(is_active=True).prefetch_related(
            Prefetch("plans", queryset=plans, to_attr="offered_plans")
        )
