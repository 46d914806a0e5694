"""Tariffs as effective-dated versions, and the holiday calendars their time-of-use schedules depend on.

A tariff's numbers come from an OpenEI URDB record plus our extension object (billing.urdb); a version is
never edited in place: a new rate sheet is a new version, so a past bill can always be re-rated (BR.3).
"""

import datetime as dt
import zoneinfo
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

DEFAULT_TIME_ZONE = "America/Los_Angeles"

MONEY = {"max_digits": 12, "decimal_places": 5}


class ObservedRule(models.TextChoices):
    """What a utility does when one of its holidays falls on a weekend."""

    NONE = "none", "Nothing moves"
    SUNDAY_TO_MONDAY = "sunday_to_monday", "A Sunday holiday moves to Monday; nothing moves for Saturday"


class HolidayCalendar(models.Model):
    """A utility's time-of-use holidays: which named holidays count, and its weekend rule.

    The dates are stored as Holiday rows (built by billing.holidays) so a bill can show exactly which days
    were rated as holidays, even if the `holidays` package later changes.
    """

    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    country = models.CharField(
        max_length=2, default="US", help_text="Country code for the `holidays` package."
    )
    holiday_names = models.JSONField(
        help_text='Names exactly as the `holidays` package spells them, e.g. "Washington\'s Birthday".'
    )
    display_names = models.JSONField(
        default=dict,
        blank=True,
        help_text='What the rate sheet calls a holiday, by package name: {"Washington\'s Birthday": '
        '"Presidents\' Day"}.',
    )
    observed_rule = models.CharField(max_length=20, choices=ObservedRule.choices)
    first_year = models.PositiveSmallIntegerField(null=True, blank=True, help_text="First year built.")
    last_year = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Last year built.")

    def __str__(self) -> str:
        return self.name

    def covers(self, year: int) -> bool:
        """Whether the rows of `year` are built (a missing year would rate its holidays as weekdays).

        billing.holidays.build_calendar only ever builds one contiguous run of years, so the range is exact.
        """
        return self.first_year is not None and self.first_year <= year <= self.last_year


class Holiday(models.Model):
    """One day that a calendar's tariffs rate with the weekend schedule."""

    calendar = models.ForeignKey(HolidayCalendar, on_delete=models.CASCADE, related_name="holidays")
    date = models.DateField()
    name = models.CharField(max_length=200, help_text="The calendar's display name for it, if it has one.")

    class Meta:
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(fields=["calendar", "date"], name="holiday_unique_calendar_date")
        ]

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d} {self.name}"


class Utility(models.Model):
    """The company that files the rate sheets; its holiday calendar is its tariffs' default."""

    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    eia_id = models.PositiveIntegerField(
        null=True, blank=True, help_text="EIA utility number (URDB `eiaid`)."
    )
    holiday_calendar = models.ForeignKey(HolidayCalendar, on_delete=models.PROTECT, related_name="utilities")

    class Meta:
        verbose_name_plural = "utilities"

    def __str__(self) -> str:
        return self.name


class Tariff(models.Model):
    """A rate schedule customers are billed under (e.g. SCE TOU-D-PRIME); its numbers live in versions.

    `utility` may be empty only for a tariff named by the CIS before its rate sheet was imported; such a
    tariff has no version and cannot be priced. The time zone is the tariff's, not a version's: every
    version's hours are local hours of it, so the importer refuses to change it once a version exists.
    """

    code = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    utility = models.ForeignKey(
        Utility, null=True, blank=True, on_delete=models.PROTECT, related_name="tariffs"
    )
    time_zone = models.CharField(
        max_length=64, default=DEFAULT_TIME_ZONE, help_text="The periods are defined in this local time."
    )
    source_url = models.URLField(max_length=500, blank=True)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} — {self.name}"

    def clean(self) -> None:
        try:
            zoneinfo.ZoneInfo(self.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValidationError({"time_zone": f"unknown time zone {self.time_zone!r}"}) from exc

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)

    def version_on(self, day: dt.date) -> "TariffVersion | None":
        """The version in force on a local date, or None."""
        return (
            self.versions.filter(effective_start__lte=day)
            .filter(models.Q(effective_end__isnull=True) | models.Q(effective_end__gt=day))
            .first()
        )


class ChargeUnit(models.TextChoices):
    PER_DAY = "day", "$/day"
    PER_MONTH = "month", "$/month"


class TariffVersion(models.Model):
    """The numbers of one rate sheet, in force from `effective_start` until `effective_end` (exclusive).

    The two schedules are 12x24 matrices (month 1-12 → row 0-11, local hour → column) of period indexes,
    as in URDB. Holidays (of the version's own calendar, so a later calendar change never re-rates a past
    bill) use the weekend schedule.
    """

    tariff = models.ForeignKey(Tariff, on_delete=models.CASCADE, related_name="versions")
    holiday_calendar = models.ForeignKey(HolidayCalendar, on_delete=models.PROTECT, related_name="versions")
    effective_start = models.DateField()
    effective_end = models.DateField(null=True, blank=True, help_text="First day no longer in force.")
    urdb_label = models.CharField(max_length=64, blank=True, help_text="The OpenEI URDB record it came from.")
    source_url = models.URLField(max_length=500, blank=True)
    source_notes = models.TextField(blank=True, help_text="Which rate sheet, and its effective date.")
    content_sha256 = models.CharField(
        max_length=64, help_text="Fingerprint of the parsed numbers; an identical re-import is a no-op."
    )
    weekday_schedule = models.JSONField()
    weekend_schedule = models.JSONField()
    fixed_charge = models.DecimalField(**MONEY, default=Decimal(0))
    fixed_charge_unit = models.CharField(max_length=5, choices=ChargeUnit.choices, default=ChargeUnit.PER_DAY)
    minimum_charge = models.DecimalField(**MONEY, default=Decimal(0))
    minimum_charge_unit = models.CharField(
        max_length=5, choices=ChargeUnit.choices, default=ChargeUnit.PER_DAY
    )
    baseline_credit = models.DecimalField(
        **MONEY, null=True, blank=True, help_text="$/kWh credited for usage within the baseline allowance."
    )
    critical_peak_adder = models.DecimalField(
        **MONEY, null=True, blank=True, help_text="$/kWh added during a critical-peak event."
    )
    critical_peak_start_hour = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(23)]
    )
    critical_peak_end_hour = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(24)]
    )
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tariff", "effective_start"]
        constraints = [
            models.UniqueConstraint(fields=["tariff", "effective_start"], name="tariffversion_unique_start"),
            models.CheckConstraint(
                condition=models.Q(effective_end__isnull=True)
                | models.Q(effective_end__gt=models.F("effective_start")),
                name="tariffversion_end_after_start",
            ),
        ]

    def __str__(self) -> str:
        end = f"{self.effective_end:%Y-%m-%d}" if self.effective_end else "…"
        return f"{self.tariff.code} {self.effective_start:%Y-%m-%d} - {end}"


class Season(models.Model):
    """A named set of months (e.g. Summer = June-September), with its baseline allowance if any."""

    version = models.ForeignKey(TariffVersion, on_delete=models.CASCADE, related_name="seasons")
    name = models.CharField(max_length=64)
    months = models.JSONField(help_text="Month numbers 1-12.")
    baseline_kwh_per_day = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)

    class Meta:
        ordering = ["version", "id"]
        constraints = [models.UniqueConstraint(fields=["version", "name"], name="season_unique_name")]

    def __str__(self) -> str:
        return self.name


class PeriodKind(models.TextChoices):
    """What a period means to a customer; also its CSS class (`period-on-peak`)."""

    ON_PEAK = "on-peak", "On-peak"
    MID_PEAK = "mid-peak", "Mid-peak"
    OFF_PEAK = "off-peak", "Off-peak"
    SUPER_OFF_PEAK = "super-off-peak", "Super off-peak"
    FLAT = "flat", "All hours"


class Period(models.Model):
    """One URDB energy period (0-based `index`, as the schedules use it) with its label."""

    version = models.ForeignKey(TariffVersion, on_delete=models.CASCADE, related_name="periods")
    index = models.PositiveSmallIntegerField()
    label = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=PeriodKind.choices)

    class Meta:
        ordering = ["version", "index"]
        constraints = [models.UniqueConstraint(fields=["version", "index"], name="period_unique_index")]

    def __str__(self) -> str:
        return self.label


class Tier(models.Model):
    """A price step of a period: applies to usage up to `max_kwh` in the billing period (None: no limit)."""

    period = models.ForeignKey(Period, on_delete=models.CASCADE, related_name="tiers")
    number = models.PositiveSmallIntegerField(help_text="1 for the first tier.")
    rate = models.DecimalField(**MONEY)
    adjustment = models.DecimalField(**MONEY, default=Decimal(0))
    max_kwh = models.DecimalField(max_digits=12, decimal_places=3, null=True, blank=True)

    class Meta:
        ordering = ["period", "number"]
        constraints = [models.UniqueConstraint(fields=["period", "number"], name="tier_unique_number")]

    def __str__(self) -> str:
        return f"{self.period} tier {self.number}: {self.price} $/kWh"

    @property
    def price(self) -> Decimal:
        """$/kWh: URDB's rate plus its adjustment."""
        return self.rate + self.adjustment


class CreditApplies(models.TextChoices):
    """Which bills a credit is on."""

    ALL = "all", "Every bill on the tariff"
    EV_SUBMETER = "ev_submeter", "Only when the vehicle's charging is measured by a submeter"


class Credit(models.Model):
    """A recurring bill credit, e.g. the EV submeter credit ($/day).

    An `ev_submeter` credit is applied only to PEV-plan bills: PEV Portal bills a plan on the energy the
    EUMD submeter measures, which is what e.g. SCE TOU-D-PRIME's EV Submeter Credit requires.
    """

    version = models.ForeignKey(TariffVersion, on_delete=models.CASCADE, related_name="credits")
    name = models.CharField(max_length=200)
    amount = models.DecimalField(**MONEY, validators=[MinValueValidator(Decimal(0))])
    unit = models.CharField(max_length=5, choices=ChargeUnit.choices)
    applies_to = models.CharField(max_length=16, choices=CreditApplies.choices, default=CreditApplies.ALL)

    class Meta:
        ordering = ["version", "id"]

    def __str__(self) -> str:
        return f"{self.name}: {self.amount} {self.get_unit_display()}"

    def applies(self, *, ev_submeter: bool) -> bool:
        """Whether the credit is on a bill, given whether that bill is for submetered EV charging."""
        return self.applies_to == CreditApplies.ALL or ev_submeter


class CriticalPeakDay(models.Model):
    """A day the utility called a critical-peak event for a version that has a critical-peak adder."""

    version = models.ForeignKey(TariffVersion, on_delete=models.CASCADE, related_name="critical_peak_days")
    date = models.DateField()

    class Meta:
        ordering = ["version", "date"]
        constraints = [
            models.UniqueConstraint(fields=["version", "date"], name="criticalpeakday_unique_date")
        ]

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d}"


# --- Bills (issue 6; docs/billing.md) ----------------------------------------------------------------


class BillingRun(models.Model):
    """One billing run over a period (a calendar month in the tariffs' zone): status, progress and errors
    a CSR watches live. Its chunks of premises are Celery tasks (billing/runs.py)."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    period = models.DateField(help_text="The first day of the month billed.")
    account = models.ForeignKey(
        "enrollment.UtilityAccount",
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        help_text="Only this account's premises; empty means every premise.",
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=16, help_text="beat, command or csr")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    premises_total = models.PositiveIntegerField(default=0)
    premises_done = models.PositiveIntegerField(default=0)
    bills_issued = models.PositiveIntegerField(default=0)
    bills_held = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(db_default=Now())
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"billing run {self.period:%Y-%m} ({self.get_status_display()})"


class Bill(models.Model):
    """A premise's bill for one month: final once issued — a correction is an Adjustment on a later bill.

    `total` is the sum of the lines' rounded amounts (each line rounded to the cent once, half up).
    """

    account = models.ForeignKey("enrollment.UtilityAccount", on_delete=models.PROTECT, related_name="bills")
    premise = models.ForeignKey("enrollment.Premise", on_delete=models.PROTECT, related_name="bills")
    period = models.DateField(help_text="The first day of the month billed.")
    starts_at = models.DateTimeField(help_text="Local midnight of the first day, in UTC.")
    ends_at = models.DateTimeField(help_text="Local midnight after the last day, in UTC.")
    total = models.DecimalField(max_digits=12, decimal_places=2)
    estimated = models.BooleanField(default=False, help_text="Released from a hold with estimated data.")
    trued_up_by = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        related_name="trues_up",
        null=True,
        blank=True,
        help_text="For an estimated bill: the later bill that carries the difference to the measured month.",
    )
    run = models.ForeignKey(BillingRun, on_delete=models.PROTECT, related_name="bills", null=True, blank=True)
    issued_at = models.DateTimeField()

    class Meta:
        ordering = ["-period", "premise"]
        constraints = [models.UniqueConstraint(fields=["premise", "period"], name="bill_once_per_period")]

    def __str__(self) -> str:
        return f"bill {self.period:%Y-%m} for premise {self.premise_id}: ${self.total}"


class BillLine(models.Model):
    """One line of a bill: quantity × unit price = the unrounded amount, rounded to the cent once."""

    class Kind(models.TextChoices):
        PEV_ENERGY = "pev_energy", "PEV energy at the plan's rate"
        PREMISE_ENERGY = "premise_energy", "Premise energy at the default rate"
        FIXED_CHARGE = "fixed_charge", "Fixed charge"
        CREDIT = "credit", "Credit"
        MINIMUM_CHARGE = "minimum_charge", "Minimum charge"
        ADJUSTMENT = "adjustment", "Adjustment"

    bill = models.ForeignKey(Bill, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    description = models.CharField(max_length=200)
    tariff = models.ForeignKey(Tariff, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    enrollment = models.ForeignKey(
        "enrollment.Enrollment", on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    period_label = models.CharField(max_length=100, blank=True, help_text="The TOU period, for energy.")
    quantity = models.DecimalField(max_digits=14, decimal_places=3)
    unit = models.CharField(max_length=8, help_text="kWh, day or month.")
    unit_price = models.DecimalField(max_digits=12, decimal_places=5, null=True, blank=True)
    amount_unrounded = models.DecimalField(max_digits=20, decimal_places=10)
    amount = models.DecimalField(max_digits=12, decimal_places=2)

    class Meta:
        ordering = ["bill", "position"]
        constraints = [models.UniqueConstraint(fields=["bill", "position"], name="billline_position")]

    def __str__(self) -> str:
        return f"{self.description}: ${self.amount}"


class BillHold(models.Model):
    """A premise's month that cannot be billed as it stands — missing or conflicting data — waiting for a
    CSR to release it with an estimate or after correcting the data."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RELEASED = "released", "Released"

    class Release(models.TextChoices):
        ESTIMATE = "estimate", "Bill with an estimate (trued up on the next bill)"
        CORRECTED = "corrected", "Data corrected: bill as measured"

    premise = models.ForeignKey("enrollment.Premise", on_delete=models.PROTECT, related_name="bill_holds")
    period = models.DateField()
    reason = models.CharField(max_length=200)
    detail = models.JSONField(default=dict)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    run = models.ForeignKey(BillingRun, on_delete=models.PROTECT, related_name="holds", null=True, blank=True)
    created_at = models.DateTimeField(db_default=Now())
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    released_at = models.DateTimeField(null=True, blank=True)
    release = models.CharField(max_length=9, choices=Release.choices, blank=True)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["premise", "period"], condition=Q(status="open"), name="billhold_one_open"
            )
        ]

    def __str__(self) -> str:
        return f"hold {self.period:%Y-%m} premise {self.premise_id}: {self.reason}"


class Adjustment(models.Model):
    """A correction to an issued bill, carried as a line on the premise's next bill, with its reason and
    approver (a finalised bill never changes)."""

    premise = models.ForeignKey("enrollment.Premise", on_delete=models.PROTECT, related_name="adjustments")
    amount = models.DecimalField(
        max_digits=12, decimal_places=2, help_text="Positive charges, negative credits."
    )
    reason = models.CharField(max_length=200)
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(db_default=Now())
    bill = models.ForeignKey(
        Bill,
        on_delete=models.PROTECT,
        related_name="adjustments",
        null=True,
        blank=True,
        help_text="The bill that carries it; empty until the next bill is issued.",
    )

    def __str__(self) -> str:
        return f"adjustment ${self.amount} for premise {self.premise_id}: {self.reason}"
