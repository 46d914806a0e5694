"""The readings batch as the OpenAPI schema documents it. The view does not run these per read: the
batch's reads are checked in one pass by metering/readings.py (10,000 serializer calls would cost more
than storing them)."""

from rest_framework import serializers

from metering.models import Quality


class ReadSerializer(serializers.Serializer):
    pev_id = serializers.CharField(min_length=17, max_length=17, help_text="The VIN the EUMD measured.")
    interval_start = serializers.CharField(
        help_text="UTC to the second, YYYY-MM-DDTHH:MM:SSZ, aligned to interval_seconds."
    )
    interval_seconds = serializers.IntegerField(
        min_value=60, max_value=3600, help_text="Divides an hour; the length in force (Req 25)."
    )
    wh = serializers.IntegerField(help_text="Watt-hours measured in the interval.")
    quality = serializers.ChoiceField(choices=Quality.choices, required=False, default=Quality.ACTUAL)


class ReadingBatchSerializer(serializers.Serializer):
    batch_id = serializers.CharField(
        max_length=64, help_text="Unique per EUMD: a retry with the same batch_id gets the first result."
    )
    reads = ReadSerializer(many=True, help_text="1 to METERING_MAX_BATCH_READS (10,000) reads.")


class RejectedReadSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the read in `reads`.")
    reason = serializers.CharField()


class ReadingBatchResultSerializer(serializers.Serializer):
    batch_id = serializers.CharField()
    accepted = serializers.IntegerField(help_text="Reads stored now.")
    duplicates = serializers.IntegerField(help_text="Identical to a read already stored (a re-send).")
    conflicts = serializers.IntegerField(
        help_text="A different value for a stored or billed interval: kept for CSR review, not applied."
    )
    rejected = RejectedReadSerializer(many=True, help_text="Reads not stored, with the reason.")
