from rest_framework import viewsets
from rest_framework.permissions import AllowAny

from enrollment.api.serializers import PevProgramSerializer
from enrollment.models import PevProgram


class PevProgramViewSet(viewsets.ReadOnlyModelViewSet):
    """Public: the PEV programmes open for enrollment and their plans (Req 1, 2)."""

    serializer_class = PevProgramSerializer
    permission_classes = [AllowAny]
    authentication_classes = []
    lookup_field = "code"

    def get_queryset(self):
        return PevProgram.objects.offered()
