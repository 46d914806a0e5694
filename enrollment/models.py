"""The utility registry (Req 4, 5; BR.1, BR.8): customers, accounts and premises from the CIS, the PEV
programmes and service plans on offer, and the PEVs enrolled in them."""

import datetime as dt

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import Now
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


class UtilityAccountQuerySet(models.QuerySet):
    def for_user(self, user) -> "UtilityAccountQuerySet":
        """Accounts a signed-in customer has linked (step 2 of the wizard)."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(links__user=user)


class UtilityAccount(models.Model):
    """A billing account (BR.1): the PEV customer has one, with service at one or more premises."""

    number = models.CharField(_("account number"), max_length=32, unique=True, validators=[IDENTIFIER])
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="accounts")

    objects = UtilityAccountQuerySet.as_manager()

    class Meta:
        ordering = ["number"]

    def __str__(self) -> str:
        return self.number


class PremiseQuerySet(models.QuerySet):
    def not_enrolled(self) -> "PremiseQuerySet":
        """Premises with no PEV enrolled or awaiting commissioning (Req 5)."""
        return self.exclude(Exists(Enrollment.objects.current().filter(premise=OuterRef("pk"))))

    def for_user(self, user) -> "PremiseQuerySet":
        """Premises on accounts a signed-in customer has linked."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(account__links__user=user)

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


class PevProgramQuerySet(models.QuerySet):
    def offered(self) -> "PevProgramQuerySet":
        """Active programmes with their offered plans and tariffs in `offered_plans` (public pages, API)."""
        plans = ServicePlan.objects.offered_with_tariffs()
        return self.filter(is_active=True).prefetch_related(
            models.Prefetch("plans", queryset=plans, to_attr="offered_plans")
        )


class PevProgram(models.Model):
    """A PEV programme the utility offers (Req 2), e.g. "EV Home Charging"; plans sit under it."""

    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=120)
    summary = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    sort_order = models.PositiveSmallIntegerField(default=0)

    objects = PevProgramQuerySet.as_manager()

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

    @property
    def description(self) -> str:
        """ "2019 Tesla Model 3", or as much of it as the VIN tells."""
        return " ".join(str(part) for part in (self.year, self.make, self.model) if part) or self.vin


class GuestCharging(models.TextChoices):
    """What happens when a guest PEV plugs in at this premise (DOMAIN.md "Guest charging")."""

    DECLINED = "declined", _("Guests are not bound; their energy stays on my default rate")
    HOST = "host", _("Guests are bound and billed to me at my PEV plan")
    GUEST = "guest", _("Guests who allow roaming are billed on their own account")


class EnrollmentChannel(models.TextChoices):
    WEB = "web", _("Website")
    PHONE = "phone", _("Phone (CSR)")
    IMPORT = "import", _("Bulk import")


class EnrollmentQuerySet(models.QuerySet):
    def current(self) -> "EnrollmentQuerySet":
        """Enrollments that hold their VIN: awaiting commissioning, active or suspended."""
        return self.filter(status__in=Enrollment.HOLDING_STATUSES)

    def for_user(self, user) -> "EnrollmentQuerySet":
        """What a signed-in customer may see: enrollments on accounts linked to them."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(account__links__user=user)


class Enrollment(models.Model):
    """A PEV enrolled at its home premise in a plan, with its programme parameters (Req 4).

    `plan` is the plan in force now; `plan_assignments` keep every plan with its effective dates, which
    billing rates by. A VIN holds at most one current enrollment (database constraint).
    """

    class Status(models.TextChoices):
        PENDING_COMMISSIONING = "pending_commissioning", _("Awaiting commissioning")
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspended")
        ENDED = "ended", _("Ended")

    HOLDING_STATUSES = (Status.PENDING_COMMISSIONING, Status.ACTIVE, Status.SUSPENDED)

    pev = models.ForeignKey(Pev, on_delete=models.PROTECT, related_name="enrollments")
    account = models.ForeignKey(UtilityAccount, on_delete=models.PROTECT, related_name="enrollments")
    premise = models.ForeignKey(Premise, on_delete=models.PROTECT, related_name="enrollments")
    plan = models.ForeignKey(ServicePlan, on_delete=models.PROTECT, related_name="enrollments")
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.PENDING_COMMISSIONING)
    channel = models.CharField(max_length=10, choices=EnrollmentChannel.choices)
    guest_charging = models.CharField(
        max_length=10, choices=GuestCharging.choices, default=GuestCharging.DECLINED
    )
    guest_vins = models.JSONField(
        default=list,
        blank=True,
        help_text=_("When not empty, only these guest VINs are admitted at this premise."),
    )
    allow_roaming = models.BooleanField(
        default=False, help_text=_("This PEV may bind at this utility's other premises (inter-utility: P2).")
    )
    effective_from = models.DateTimeField()
    effective_to = models.DateTimeField(null=True, blank=True)
    ended_reason = models.CharField(max_length=200, blank=True)
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

    @property
    def is_current(self) -> bool:
        return self.status in self.HOLDING_STATUSES

    def commissioning_window(self, at: dt.datetime) -> "CommissioningWindow | None":
        """The window open at `at`, if any: binding only commissions inside one."""
        return (
            self.commissioning_windows.filter(opens_at__lte=at, closes_at__gt=at)
            .order_by("-opens_at")
            .first()
        )

    def plan_on(self, at: dt.datetime) -> ServicePlan:
        """The plan in force at an instant (billing rates each interval by it)."""
        assignment = (
            self.plan_assignments.filter(effective_from__lte=at)
            .filter(Q(effective_to__isnull=True) | Q(effective_to__gt=at))
            .select_related("plan")
            .first()
        )
        return assignment.plan if assignment else self.plan


class PlanAssignment(models.Model):
    """The plan an enrollment is billed under from `effective_from` until `effective_to` (exclusive)."""

    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="plan_assignments")
    plan = models.ForeignKey(ServicePlan, on_delete=models.PROTECT, related_name="+")
    effective_from = models.DateTimeField()
    effective_to = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["enrollment", "effective_from"], name="planassignment_unique_start"
            )
        ]

    def __str__(self) -> str:
        return f"{self.enrollment_id}: {self.plan.code} from {self.effective_from:%Y-%m-%d}"


class CommissioningWindow(models.Model):
    """A period during which the VIN may complete the full commissioning handshake at its home premise."""

    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="commissioning_windows")
    opens_at = models.DateTimeField()
    closes_at = models.DateTimeField()
    reason = models.CharField(max_length=200)

    class Meta:
        ordering = ["-opens_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(closes_at__gt=F("opens_at")), name="window_closes_after_opening"
            )
        ]

    def __str__(self) -> str:
        return f"{self.enrollment_id}: {self.opens_at:%Y-%m-%d} to {self.closes_at:%Y-%m-%d}"


class AccountLink(models.Model):
    """A login user allowed to act for a utility account (household members; a user may have several)."""

    class Method(models.TextChoices):
        VERIFIED = "verified", _("Account number, ZIP code and phone digits")
        CODE = "code", _("One-time enrollment code")
        CSR = "csr", _("Linked by a CSR")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="account_links")
    account = models.ForeignKey(UtilityAccount, on_delete=models.CASCADE, related_name="links")
    method = models.CharField(max_length=10, choices=Method.choices)
    linked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "account"], name="accountlink_unique")]

    def __str__(self) -> str:
        return f"{self.user} → {self.account}"


class LinkAttempt(models.Model):
    """A failed attempt to link an account, kept in the database so rate limits survive a Redis outage."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    account_number = models.CharField(max_length=32, blank=True)
    at = models.DateTimeField(db_default=Now(), db_index=True)

    class Meta:
        indexes = [models.Index(fields=["account_number", "at"])]

    def __str__(self) -> str:
        return f"{self.user} tried {self.account_number or 'a code'} at {self.at}"


class EnrollmentCode(models.Model):
    """A one-time code a CSR gives a caller to link their account online; only its hash is stored."""

    account = models.ForeignKey(UtilityAccount, on_delete=models.CASCADE, related_name="enrollment_codes")
    code_hash = models.CharField(max_length=64, unique=True)
    issued_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    issued_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"code for {self.account} (expires {self.expires_at:%Y-%m-%d})"


class TransferRequest(models.Model):
    """A new owner asked to enroll a VIN that is still enrolled elsewhere (vehicle sold): a CSR decides.

    Approving ends the old enrollment and enrolls the VIN as requested.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for review")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    vin = models.CharField(max_length=17, validators=[validate_vin])
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey(UtilityAccount, on_delete=models.PROTECT, related_name="+")
    premise = models.ForeignKey(Premise, on_delete=models.PROTECT, related_name="+")
    plan = models.ForeignKey(ServicePlan, on_delete=models.PROTECT, related_name="+")
    guest_charging = models.CharField(max_length=10, choices=GuestCharging.choices)
    guest_vins = models.JSONField(default=list, blank=True)
    allow_roaming = models.BooleanField(default=False)
    channel = models.CharField(max_length=10, choices=EnrollmentChannel.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decision_note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["vin", "account"],
                condition=Q(status="pending"),
                name="transfer_one_pending_per_vin_account",
            )
        ]

    def __str__(self) -> str:
        return f"transfer of {self.vin} to {self.account} ({self.status})"


class EnrollmentDraftQuerySet(models.QuerySet):
    def for_user(self, user) -> "EnrollmentDraftQuerySet":
        """A customer sees only their own draft."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(user=user)


class EnrollmentDraft(models.Model):
    """A customer's enrollment wizard in progress, kept on the server so they can leave and come back.

    `data` holds what the steps collected (ids, the VIN, the plan, preferences); every request re-checks it
    through the customer's access QuerySets, so an unlinked account or a withdrawn plan reopens its step.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="enrollment_draft"
    )
    step = models.CharField(max_length=16, help_text=_("The step the customer resumes at."))
    data = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = EnrollmentDraftQuerySet.as_manager()

    def __str__(self) -> str:
        return f"draft of {self.user} at {self.step}"
