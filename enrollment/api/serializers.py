from rest_framework import serializers

from enrollment.models import PevProgram, ServicePlan


class ServicePlanSerializer(serializers.ModelSerializer):
    tariff = serializers.SlugRelatedField(slug_field="code", read_only=True)
    eligible_tariffs = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)

    class Meta:
        model = ServicePlan
        fields = [
            "code",
            "name",
            "summary",
            "tariff",
            "eligible_tariffs",
            "eumd_interval_seconds",
            "binding_timeout_seconds",
        ]


class PevProgramSerializer(serializers.ModelSerializer):
    plans = ServicePlanSerializer(many=True, source="offered_plans")

    class Meta:
        model = PevProgram
        fields = ["code", "name", "summary", "description", "plans"]
