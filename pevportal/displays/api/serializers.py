"""Shapes of the read-only customer API. Money is a decimal string ("12.34"), energy integer Wh."""

import datetime as dt
import re

from django.utils.translation import gettext as _
from rest_framework import serializers

from billing.models import Bill, BillLine
from pevportal.displays.usage import MAX_DAYS

ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class IsoDateField(serializers.DateField):
    """Exactly YYYY-MM-DD (strptime alone would take 2026-6-1)."""

    def to_internal_value(self, value):
        if not isinstance(value, str) or not ISO_DATE.fullmatch(value):
            raise serializers.ValidationError(_("Enter the date as YYYY-MM-DD."))
        return super().to_internal_value(value)


class UsageQuerySerializer(serializers.Serializer):
    """`?start=YYYY-MM-DD&end=YYYY-MM-DD`: local days of the premise, both included."""

    start = IsoDateField(input_formats=["%Y-%m-%d"])
    end = IsoDateField(input_formats=["%Y-%m-%d"])

    def validate(self, attrs):
        start, end = attrs["start"], attrs["end"]
        if end < start:
            raise serializers.ValidationError({"end": [_("end must be on or after start.")]})
        if (end - start) >= dt.timedelta(days=MAX_DAYS):
            raise serializers.ValidationError(
                {"end": [_("Ask for at most %(days)s days at a time.") % {"days": MAX_DAYS}]}
            )
        return attrs


class UsagePeriodSerializer(serializers.Serializer):
    source = serializers.ChoiceField(choices=["premise", "pev"], help_text="premise meter or PEV submeters")
    period = serializers.CharField(help_text="TOU period of the tariff that rates this energy")
    wh = serializers.IntegerField()


class UsageDaySerializer(serializers.Serializer):
    date = serializers.DateField()
    premise_wh = serializers.IntegerField(
        allow_null=True, help_text="Whole home; null until its reads arrive"
    )
    pev_wh = serializers.IntegerField(help_text="PEV submeters at the premise (guests included)")
    rest_wh = serializers.IntegerField(allow_null=True, help_text="Home without the PEVs (never below 0)")
    periods = UsagePeriodSerializer(many=True)


class UsagePremiseSerializer(serializers.Serializer):
    premise_id = serializers.CharField()
    service_address = serializers.CharField()
    time_zone = serializers.CharField(help_text="The days are local days of this zone")
    days = UsageDaySerializer(many=True)


class UsageSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    premises = UsagePremiseSerializer(many=True)


class BillLineSerializer(serializers.ModelSerializer):
    vin = serializers.CharField(source="enrollment.pev.vin", default=None, allow_null=True)
    tariff = serializers.CharField(source="tariff.code", default=None, allow_null=True)

    class Meta:
        model = BillLine
        fields = [
            "position",
            "kind",
            "description",
            "tariff",
            "vin",
            "period_label",
            "quantity",
            "unit",
            "unit_price",
            "amount",
        ]


class BillSerializer(serializers.ModelSerializer):
    account = serializers.CharField(source="account.number")
    premise_id = serializers.CharField(source="premise.premise_id")
    period = serializers.DateField(help_text="First day of the month billed")
    currency = serializers.SerializerMethodField()

    class Meta:
        model = Bill
        fields = [
            "id",
            "account",
            "premise_id",
            "period",
            "starts_at",
            "ends_at",
            "total",
            "currency",
            "estimated",
            "issued_at",
        ]

    def get_currency(self, bill) -> str:
        return "USD"


class BillDetailSerializer(BillSerializer):
    lines = BillLineSerializer(many=True)

    class Meta(BillSerializer.Meta):
        fields = [*BillSerializer.Meta.fields, "lines"]
