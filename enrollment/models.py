"""The utility registry (Req 4, 5; BR.1, BR.8): customers, accounts and premises from the CIS, the PEV
programmes and service plans on offer, and the PEVs enrolled in them."""

from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext_lazy as _

from enrollment.vin import validate_vin

IDENTIFIER = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
    _("Use letters, digits, '.', '_' and '-' only, starting with a letter or digit."),
)
POSTAL_CODE = RegexValidator(
    r"^\d{5}(-\d{4})?$", _("Use a 5-digit ZIP code, optionally with the 4-digit suffix.")
)


class Customer(models.Model):
    """A utility customer as the Customer Information System (CIS) knows them."""

    cis_id = models.CharField(_("CIS customer ID"), max_length=40, unique=True, validators=[IDENTIFIER])
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=15, help_text=_("Digits only, as on file in the CIS."))

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class UtilityAccount(models.Model):
    """A billing account (BR.1): the PEV customer has one, with service at one or more premises."""

    number = models.CharField(_("account number"), max_length=32, unique=True, validators=[IDENTIFIER])
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="accounts")

    class Meta:
        ordering = ["number"]

    def __str__(self) -> str:
        return self.number


class PremiseQuerySet(models.QuerySet):
    def not_enrolled(self) -> "PremiseQuerySet":
        """Premises with no PEV enrolled or awaiting commissioning (Req 5)."""
        return self.exclude(Exists(Enrollment.objects.current().filter(premise=OuterRef("pk"))))

    def matching(
        self, *, q: str = "", feeder: str = "", postal_code: str = "", tariff=None
    ) -> "PremiseQuerySet":
        """The CSR report and search filters: free text over account, premise, name and address."""
        qs = self
        if q:
            qs = qs.filter(
                Q(premise_id__iexact=q)
                | Q(account__number__iexact=q)
                | Q(account__customer__name__icontains=q)
                | Q(service_address__icontains=q)
            )
        if feeder:
            qs = qs.filter(feeder_id__iexact=feeder)
        if postal_code:
            qs = qs.filter(postal_code__startswith=postal_code)
        if tariff is not None:
            qs = qs.filter(default_tariff=tariff)
        return qs


class Premise(models.Model):
    """A service point: one revenue meter on one feeder, billed by default at `default_tariff` (BR.8)."""

    premise_id = models.CharField(_("premise ID"), max_length=32, unique=True, validators=[IDENTIFIER])
    account = models.ForeignKey(UtilityAccount, on_delete=models.PROTECT, related_name="premises")
    service_address = models.CharField(max_length=300)
    postal_code = models.CharField(max_length=10, validators=[POSTAL_CODE])
    meter_id = models.CharField(_("revenue meter ID"), max_length=32, unique=True, validators=[IDENTIFIER])
    feeder_id = models.CharField(_("feeder ID"), max_length=32, validators=[IDENTIFIER])
    default_tariff = models.ForeignKey("billing.Tariff", on_delete=models.PROTECT, related_name="+")

    objects = PremiseQuerySet.as_manager()

    class Meta:
        ordering = ["premise_id"]
        indexes = [models.Index(fields=["feeder_id"]), models.Index(fields=["postal_code"])]

    def __str__(self) -> str:
        return f"{self.premise_id} — {self.service_address}"


class PevProgram(models.Model):
    """A PEV programme the utility offers (Req 2), e.g. "EV Home Charging"; plans sit under it."""

    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=120)
    summary = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "name"]

    def __str__(self) -> str:
        return self.name


class ServicePlanQuerySet(models.QuerySet):
    def offered(self) -> "ServicePlanQuerySet":
        return self.filter(is_active=True, program__is_active=True)

    def offered_with_tariffs(self) -> "ServicePlanQuerySet":
        """Offered plans with what the public pages and API show of them loaded in two queries."""
        return self.offered().select_related("tariff").prefetch_related("eligible_tariffs")

    def eligible_for(self, premise: Premise) -> "ServicePlanQuerySet":
        """Plans open to a premise: no restriction, or the premise's default tariff is listed."""
        return (
            self.offered()
            .filter(Q(eligible_tariffs__isnull=True) | Q(eligible_tariffs=premise.default_tariff_id))
            .distinct()
        )


class ServicePlan(models.Model):
    """A plan within a programme: the tariff PEV energy is billed under and the device parameters the
    binding sends (EUMD interval length, Req 25; binding timeout, Req 10)."""

    program = models.ForeignKey(PevProgram, on_delete=models.PROTECT, related_name="plans")
    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=120)
    summary = models.CharField(max_length=300)
    tariff = models.ForeignKey("billing.Tariff", on_delete=models.PROTECT, related_name="service_plans")
    eligible_tariffs = models.ManyToManyField(
        "billing.Tariff",
        blank=True,
        related_name="+",
        help_text=_("Premises on one of these default tariffs may choose this plan; none listed means any."),
    )
    eumd_interval_seconds = models.PositiveIntegerField(
        _("EUMD interval length (s)"),
        default=900,
        validators=[MinValueValidator(60)],
        help_text=_("Measurement interval the EUMD is configured with (Req 25)."),
    )
    binding_timeout_seconds = models.PositiveIntegerField(
        _("binding timeout (s)"),
        default=60,
        validators=[MinValueValidator(1)],
        help_text=_("Without a binding by then, charging proceeds at the premise's default rate (Req 10)."),
    )
    is_active = models.BooleanField(default=True)
    sort_order = models.PositiveSmallIntegerField(default=0)

    objects = ServicePlanQuerySet.as_manager()

    class Meta:
        ordering = ["program", "sort_order", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(eumd_interval_seconds__in=[60, 300, 600, 900, 1800, 3600]),
                name="serviceplan_interval_divides_hour",
            )
        ]

    def __str__(self) -> str:
        return f"{self.program.name}: {self.name}"

    @property
    def eumd_interval_minutes(self) -> int:
        return self.eumd_interval_seconds // 60

    def is_eligible(self, premise: Premise) -> bool:
        return ServicePlan.objects.eligible_for(premise).filter(pk=self.pk).exists()


class Pev(models.Model):
    """A plug-in electric vehicle, identified by its VIN — the PEV ID (Req 3)."""

    vin = models.CharField(_("VIN"), max_length=17, unique=True, validators=[validate_vin])
    make = models.CharField(max_length=60, blank=True)
    model = models.CharField(max_length=60, blank=True)
    year = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = _("PEV")

    def __str__(self) -> str:
        return self.vin


class GuestCharging(models.TextChoices):
    """What happens when a guest PEV plugs in at this premise (DOMAIN.md "Guest charging")."""

    DECLINED = "declined", _("Guests are not bound; their energy stays on my default rate")
    HOST = "host", _("Guests are bound and billed to me at my PEV plan")
    GUEST = "guest", _("Guests who allow roaming are billed on their own account")


class EnrollmentQuerySet(models.QuerySet):
    def current(self) -> "EnrollmentQuerySet":
        """Enrollments that hold their VIN: awaiting commissioning, active or suspended."""
        return self.filter(status__in=Enrollment.HOLDING_STATUSES)


class Enrollment(models.Model):
    """A PEV enrolled at its home premise in a plan, with its programme parameters (Req 4)."""

    class Status(models.TextChoices):
        PENDING_COMMISSIONING = "pending_commissioning", _("Awaiting commissioning")
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspended")
        ENDED = "ended", _("Ended")

    HOLDING_STATUSES = (Status.PENDING_COMMISSIONING, Status.ACTIVE, Status.SUSPENDED)

    pev = models.ForeignKey(Pev, on_delete=models.PROTECT, related_name="enrollments")
    premise = models.ForeignKey(Premise, on_delete=models.PROTECT, related_name="enrollments")
    plan = models.ForeignKey(ServicePlan, on_delete=models.PROTECT, related_name="enrollments")
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.PENDING_COMMISSIONING)
    channel = models.CharField(
        max_length=10, choices=[("web", "Web"), ("phone", "Phone"), ("import", "Import")]
    )
    guest_charging = models.CharField(
        max_length=10, choices=GuestCharging.choices, default=GuestCharging.DECLINED
    )
    allow_roaming = models.BooleanField(
        default=False, help_text=_("This PEV may bind at this utility's other premises (inter-utility: P2).")
    )
    effective_from = models.DateTimeField()
    effective_to = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = EnrollmentQuerySet.as_manager()

    class Meta:
        constraints = [
            # Closes the race of two people enrolling the same VIN at once: the database admits one.
            models.UniqueConstraint(
                fields=["pev"],
                condition=Q(status__in=["pending_commissioning", "active", "suspended"]),
                name="enrollment_one_current_per_vin",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pev} at {self.premise.premise_id} ({self.get_status_display()})"
