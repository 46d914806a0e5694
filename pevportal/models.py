"""Cross-cutting records every app writes: the audit trail and import runs."""

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
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
