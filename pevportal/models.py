"""Cross-cutting records every app writes: the audit trail, import runs and customer notifications."""

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Channel(models.TextChoices):
    """How a change reached the portal; customers and CSRs see this in histories."""

    WEB = "web", _("Website")
    PHONE = "phone", _("Phone (CSR)")
    IMPORT = "import", _("File import")
    DEVICE = "device", _("Device")
    SYSTEM = "system", _("System")
    ADMIN = "admin", _("Administration")


class AuditRecord(models.Model):
    """One state change: who, when, through which channel, and the row before and after.

    Written by the function that makes the change (pevportal.audit), never by model signals, so a
    reader of that function sees the record being written.
    """

    at = models.DateTimeField(db_default=Now(), db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(
        max_length=150, blank=True, help_text="Command or device when no user acted."
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    action = models.CharField(max_length=64)
    target_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    target_id = models.CharField(max_length=64)
    # DjangoJSONEncoder stores dates, times and Decimals as ISO strings and exact decimal strings.
    before = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    after = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    context = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        indexes = [models.Index(fields=["target_type", "target_id", "at"])]
        permissions = [("csr_access", "Can use the customer service (CSR) screens")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action} {self.target_type.model}:{self.target_id}"


class ImportRunQuerySet(models.QuerySet):
    def record(self, *, kind: str, sha256: str, filename: str, changed: bool, **counts) -> "ImportRun":
        """One run per distinct file: an identical file that changed nothing leaves the existing run alone,
        one that did change something (the database had drifted) updates its counts."""
        run = self.filter(kind=kind, sha256=sha256).first()
        if run is not None and not changed:
            return run
        run, _ = self.update_or_create(
            kind=kind, sha256=sha256, defaults={"filename": filename, "finished_at": timezone.now(), **counts}
        )
        return run


class ImportRun(models.Model):
    """One file imported by a command (CIS, tariffs, enrollments, AMI), keyed by its SHA-256.

    Imports are atomic, so a run is recorded only when it succeeded; the unique key makes re-importing an
    identical file a no-op that records nothing new.
    """

    kind = models.CharField(max_length=32)
    sha256 = models.CharField(max_length=64)
    filename = models.CharField(max_length=500)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    rows_total = models.PositiveIntegerField(default=0)
    rows_created = models.PositiveIntegerField(default=0)
    rows_updated = models.PositiveIntegerField(default=0)
    rows_unchanged = models.PositiveIntegerField(default=0)
    rows_rejected = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)

    objects = ImportRunQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "sha256"], name="importrun_unique_file")]

    def __str__(self) -> str:
        return f"{self.kind} {self.filename} ({self.status})"


# --- Customer notifications (pevportal/notifications.py; docs/notifications.md) ----------------------

# An email refused this many times (a bad address, a message the server rejects) is given up; the
# notification stays on the customer's pages. A mail server that is down costs no attempt.
MAX_EMAIL_ATTEMPTS = 5


class NotificationQuerySet(models.QuerySet):
    def for_user(self, user) -> "NotificationQuerySet":
        """What a signed-in customer may see: their linked accounts' notifications and their own."""
        if not user.is_authenticated:
            return self.none()
        from enrollment.models import AccountLink

        return self.filter(
            Q(account__in=AccountLink.objects.filter(user=user).values("account")) | Q(user=user)
        )

    def unread(self) -> "NotificationQuerySet":
        return self.filter(read_at__isnull=True)

    def email_pending(self) -> "NotificationQuerySet":
        return self.filter(emailed_at__isnull=True, email_attempts__lt=MAX_EMAIL_ATTEMPTS)


class Notification(models.Model):
    """Something the portal tells a customer, on their pages and by email (issue 7; Req 17, 24).

    Only the kind and its parameters are stored; the text is rendered when shown or sent, in the reader's
    language. `dedupe_key` names the event ("commissioned:<binding>", "bill:<bill>"): a retried request, a
    re-run task or a second code path that notices the same event inserts nothing new.
    """

    class Kind(models.TextChoices):
        COMMISSIONED = "commissioned", _("Vehicle set up")
        BINDING_FAILED = "binding_failed", _("Charging not recognised")
        GUEST_AT_PREMISE = "guest_at_premise", _("A guest charged at your home")
        GUEST_SESSION = "guest_session", _("Your vehicle charged as a guest")
        BILL_READY = "bill_ready", _("Bill ready")
        CRITICAL_PEAK = "critical_peak", _("Critical-peak event")

    account = models.ForeignKey(
        "enrollment.UtilityAccount",
        on_delete=models.CASCADE,
        related_name="notifications",
        null=True,
        blank=True,
        db_index=False,  # notification_account_recent starts with it
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notifications",
        null=True,
        blank=True,
        db_index=False,  # notification_user_recent starts with it
    )
    kind = models.CharField(max_length=24, choices=Kind.choices)
    params = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    dedupe_key = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(db_default=Now())
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the email went out (or was found to have no recipient)."
    )
    email_attempts = models.PositiveSmallIntegerField(default=0, help_text="Sends the mail server refused.")

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                name="notification_has_recipient", condition=Q(account__isnull=False) | Q(user__isnull=False)
            )
        ]
        indexes = [
            models.Index(fields=["account", "-created_at"], name="notification_account_recent"),
            models.Index(fields=["user", "-created_at"], name="notification_user_recent"),
            # The email sweep's work list, kept small: only notifications not yet emailed are in it.
            models.Index(
                fields=["created_at"], condition=Q(emailed_at__isnull=True), name="notification_email_due"
            ),
        ]

    def __str__(self) -> str:
        return self.dedupe_key
