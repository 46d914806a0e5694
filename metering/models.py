"""Interval reads, stored exactly once, and what is derived from them (Req 15, 20–22, 25; BR.6, BR.8).

Two kinds of meter produce reads: a premise's revenue meter (AMI, the whole premise, PEV included — BR.8)
and an EUMD (the PEV's energy alone — Req 20). Each read is keyed by (meter, interval_start): a re-sent read
is a duplicate, a different value for the same interval a `ReadRevision` for a CSR, never an overwrite.

On PostgreSQL the read tables are range-partitioned by `interval_start`, one partition per UTC day
(`metering/partitions.py`, docs/metering.md). Their foreign keys carry no database constraint: the ingest
path resolves every id itself, meters and premises are never deleted, and a per-row RI trigger would
cost more than the insert at 100 M rows a day.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce, Now
from django.utils.translation import gettext_lazy as _


def _reference(to: str | type[models.Model], **options) -> models.ForeignKey:
    """A foreign key of a read table: no database constraint and no index of its own (module docstring)."""
    return models.ForeignKey(
        to, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+", **options
    )


class MeterKind(models.TextChoices):
    PREMISE = "premise", _("Premise revenue meter (AMI)")
    EUMD = "eumd", _("EUMD (PEV submeter)")


class Meter(models.Model):
    """A source of interval reads, and how far billing has consumed them.

    Reads at or before `billed_through` are immutable: a different value arriving later becomes a
    revision for review, and the bill's correction an adjustment on the next bill (issue 6). Ingest locks
    the meter's row, so the batches of one meter are stored one after the other.
    """

    kind = models.CharField(max_length=8, choices=MeterKind.choices)
    premise = models.OneToOneField(
        "enrollment.Premise", on_delete=models.PROTECT, related_name="revenue_meter", null=True, blank=True
    )
    eumd = models.OneToOneField(
        "binding.Device", on_delete=models.PROTECT, related_name="meter", null=True, blank=True
    )
    billed_through = models.DateTimeField(
        null=True, blank=True, help_text=_("Reads whose interval starts before this instant are billed.")
    )
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="meter_premise_or_eumd",
                condition=Q(kind="premise", premise__isnull=False, eumd__isnull=True)
                | Q(kind="eumd", premise__isnull=True, eumd__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        if self.kind == MeterKind.PREMISE:
            return f"revenue meter of premise {self.premise_id}"
        return f"EUMD {self.eumd_id}"

    def is_billed(self, interval_start) -> bool:
        return self.billed_through is not None and interval_start < self.billed_through


class Flag:
    """VEE flags on a stored read (a bit mask; docs/metering.md). Reads that cannot be stored at all —
    malformed, misaligned, at the wrong length (Req 25), in the future — are rejected instead."""

    NEGATIVE = 1
    ABOVE_MAXIMUM = 2  # more energy than the device's maximum power allows in the interval
    CLOCK_DRIFT = 4  # the device's clock was off when it signed the batch (NF.1)
    ESTIMATED = 8  # the meter said so (quality "estimated")
    OTHER_PEV = 16  # an EUMD read naming another PEV than the bound session's

    LABELS = {
        NEGATIVE: _("negative"),
        ABOVE_MAXIMUM: _("above the device maximum"),
        CLOCK_DRIFT: _("device clock drift"),
        ESTIMATED: _("estimated"),
        OTHER_PEV: _("another PEV than the session's"),
    }

    @classmethod
    def labels(cls, mask: int) -> list[str]:
        return [str(label) for bit, label in cls.LABELS.items() if mask & bit]


class Quality(models.TextChoices):
    ACTUAL = "actual", _("Actual")
    ESTIMATED = "estimated", _("Estimated")


class PevRead(models.Model):
    """One EUMD interval read and whom its energy belongs to.

    Attribution (issue 5): a read whose interval overlaps [plugged_in_at, end) of a binding that reached
    `bound`, for the same PEV, belongs to that binding and its billed enrollment — the whole interval, no
    proration. Every other read stays premise energy at the default rate (BR.4, BR.6).
    """

    pk = models.CompositePrimaryKey("meter_id", "interval_start")
    meter = _reference(Meter)
    interval_start = models.DateTimeField()
    interval_seconds = models.PositiveIntegerField()
    wh = models.IntegerField(help_text=_("Watt-hours in the interval."))
    flags = models.PositiveSmallIntegerField(default=0)
    vin = models.CharField(_("PEV ID (VIN) as read"), max_length=17)
    premise = _reference("enrollment.Premise")
    binding = _reference("binding.Binding", null=True, blank=True)
    enrollment = _reference(
        "enrollment.Enrollment",
        null=True,
        blank=True,
        help_text=_("The billed enrollment of the bound session; empty means premise energy."),
    )
    batch = _reference("ReadingBatch", null=True)

    class Meta:
        # A premise's PEV energy over a period (bills, rollup rebuilds) without knowing every EUMD that
        # charged there — guests' EUMDs included. The primary key serves everything keyed by meter.
        indexes = [models.Index(fields=["premise", "interval_start"], name="pevread_premise_time")]

    def __str__(self) -> str:
        return f"{self.vin} {self.interval_start:%Y-%m-%dT%H:%MZ} {self.wh} Wh"


class PremiseRead(models.Model):
    """One revenue-meter interval read: the whole premise, PEV charging included (BR.8)."""

    pk = models.CompositePrimaryKey("meter_id", "interval_start")
    meter = _reference(Meter)
    interval_start = models.DateTimeField()
    interval_seconds = models.PositiveIntegerField()
    wh = models.IntegerField()
    flags = models.PositiveSmallIntegerField(default=0)
    premise = _reference("enrollment.Premise")
    import_run = _reference("pevportal.ImportRun", null=True)

    def __str__(self) -> str:
        return f"premise {self.premise_id} {self.interval_start:%Y-%m-%dT%H:%MZ} {self.wh} Wh"


class ReadingBatch(models.Model):
    """A `POST /device/v1/readings` batch as first received: the same batch_id again gets `result`."""

    meter = models.ForeignKey(Meter, on_delete=models.PROTECT, related_name="batches")
    batch_id = models.CharField(max_length=64)
    request_sha256 = models.CharField(max_length=64)
    result = models.JSONField()
    relay = models.ForeignKey(
        "binding.Device", on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    received_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["meter", "batch_id"], name="reading_batch_once")]
        # The operations view polls the ingest rate of the last minutes every 10 s.
        indexes = [models.Index(fields=["received_at"], name="reading_batch_received")]

    def __str__(self) -> str:
        return f"batch {self.batch_id} of meter {self.meter_id}"


class ReadRevisionQuerySet(models.QuerySet):
    def open(self) -> "ReadRevisionQuerySet":
        return self.filter(status=ReadRevision.Status.OPEN)


class ReadRevision(models.Model):
    """A different value for an interval already stored, or a read for an interval already billed: kept
    for a CSR to apply or dismiss, never applied silently."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        APPLIED = "applied", _("Applied")
        DISMISSED = "dismissed", _("Dismissed")

    class Reason(models.TextChoices):
        CONFLICT = "conflict", _("Differs from the stored read")
        BILLED = "billed", _("Interval already billed")

    meter = models.ForeignKey(Meter, on_delete=models.PROTECT, related_name="revisions")
    interval_start = models.DateTimeField()
    interval_seconds = models.PositiveIntegerField()
    wh = models.IntegerField()
    stored_wh = models.IntegerField(null=True, blank=True, help_text=_("The stored value it differs from."))
    vin = models.CharField(max_length=17, blank=True)
    reason = models.CharField(max_length=16, choices=Reason.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    batch = models.ForeignKey(ReadingBatch, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    import_run = models.ForeignKey(
        "pevportal.ImportRun", on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    received_at = models.DateTimeField()
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=200, blank=True)

    objects = ReadRevisionQuerySet.as_manager()

    class Meta:
        ordering = ["received_at", "id"]
        constraints = [
            # The same conflicting value re-sent is one revision, not one per resend.
            models.UniqueConstraint(
                fields=["meter", "interval_start", "interval_seconds", "wh"], name="read_revision_once"
            ),
        ]
        indexes = [
            models.Index(fields=["received_at"], condition=Q(status="open"), name="read_revision_open"),
        ]

    def __str__(self) -> str:
        return f"{self.get_reason_display()}: meter {self.meter_id} {self.interval_start:%Y-%m-%dT%H:%MZ}"


class UsageSource(models.TextChoices):
    PREMISE = "premise", _("Premise meter")
    PEV = "pev", _("PEV (EUMD)")


class UsageRollup(models.Model):
    """Energy per premise, local day and TOU period, kept current as reads arrive: the revenue meter's
    (source premise) and each PEV's (source pev, with the enrollment it is billed to, if bound).

    The day and the period are those of `tariff` — the plan's tariff for bound PEV energy, the premise's
    default tariff otherwise — in the tariff's time zone, classified by each interval's local start.
    """

    premise = models.ForeignKey("enrollment.Premise", on_delete=models.PROTECT, related_name="+")
    day = models.DateField()
    source = models.CharField(max_length=8, choices=UsageSource.choices)
    vin = models.CharField(max_length=17, blank=True)
    enrollment = models.ForeignKey(
        "enrollment.Enrollment", on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    tariff = models.ForeignKey("billing.Tariff", on_delete=models.PROTECT, related_name="+")
    period_index = models.PositiveSmallIntegerField()
    period_label = models.CharField(max_length=64)
    wh = models.BigIntegerField(default=0)
    reads = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["premise", "day", "source", "period_index"]
        constraints = [
            # The upsert's conflict target (metering/rollups.py): an enrollment of NULL is one group.
            models.UniqueConstraint(
                F("premise"),
                F("day"),
                F("source"),
                F("vin"),
                Coalesce(F("enrollment"), Value(0)),
                F("tariff"),
                F("period_index"),
                name="usage_rollup_key",
            ),
        ]
        indexes = [models.Index(fields=["enrollment", "day"], name="usage_rollup_enrollment")]

    def __str__(self) -> str:
        return f"{self.premise_id} {self.day} {self.source} {self.period_label}: {self.wh} Wh"


class LoadCorrelation(models.Model):
    """Whether a bound session's PEV energy is explained by its premise's revenue meter (Req 15).

    Billing treats a `fail` at the premise default rate until a CSR clears it (`cleared_at`).
    """

    class Result(models.TextChoices):
        PENDING = "pending", _("Pending (premise data not yet complete)")
        PASS = "pass", _("Pass")
        WARN = "warn", _("Warn")
        FAIL = "fail", _("Fail")

    binding = models.OneToOneField("binding.Binding", on_delete=models.PROTECT, related_name="correlation")
    result = models.CharField(max_length=8, choices=Result.choices, default=Result.PENDING)
    evidence = models.JSONField(default=dict)
    checked_at = models.DateTimeField()
    cleared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    cleared_at = models.DateTimeField(null=True, blank=True)
    clear_note = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [models.Index(fields=["checked_at"], condition=Q(result="fail"), name="correlation_failed")]

    def __str__(self) -> str:
        return f"binding {self.binding_id}: {self.result}"

    @property
    def counts_as_bound(self) -> bool:
        """Billing's question: may this session's energy be billed at the PEV plan?"""
        return self.result != self.Result.FAIL or self.cleared_at is not None


class CorrelationDue(models.Model):
    """A session whose correlation must be (re)computed: written in the same transaction as the reads that
    made it due, so the work survives a Redis outage or a dead worker (the beat sweep drains it)."""

    binding = models.OneToOneField(
        "binding.Binding", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    queued_at = models.DateTimeField(db_default=Now())

    class Meta:
        # The worker takes the oldest first.
        indexes = [models.Index(fields=["queued_at"], name="correlation_due_queued")]

    def __str__(self) -> str:
        return f"correlate {self.binding_id}"
