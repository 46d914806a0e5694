"""Devices, bindings and the messages between the utility and the premise (Req 6–14, 16–19, 22–28).

A *binding* is one plug-in of a PEV at a premise, as the ESCI reported it: an explicit state machine
(`TRANSITIONS` below) from the request to `bound`, or to one of the fallbacks that leave the energy at the
premise's default rate (BR.4, BR.6). Devices (ESCI, EUMD) are identified by the LFDI of their certificate
(IEEE 2030.5 §6.3); the PEV proves itself with the public key it presented at commissioning.
"""

import datetime as dt
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _

LFDI_LENGTH = 40


class DeviceKind(models.TextChoices):
    ESCI = "esci", _("ESCI (premise gateway)")
    EUMD = "eumd", _("EUMD (PEV submeter)")


class DeviceQuerySet(models.QuerySet):
    def enabled(self) -> "DeviceQuerySet":
        return self.filter(enabled=True)


class Device(models.Model):
    """A registered ESCI or EUMD. The certificate is the identity; the CA key never enters the database.

    An ESCI belongs to a premise. An EUMD belongs to a premise or, when it sits inside the PEV (Req 21,
    BR.7), to the PEV. A swapped device keeps its row, disabled, and points at its replacement.
    """

    kind = models.CharField(max_length=4, choices=DeviceKind.choices)
    lfdi = models.CharField(
        _("LFDI"), max_length=LFDI_LENGTH, unique=True, help_text=_("40 lowercase hex digits.")
    )
    sfdi = models.PositiveBigIntegerField(_("SFDI"), db_index=True)
    certificate_pem = models.TextField()
    not_after = models.DateTimeField(help_text=_("When the certificate expires."))
    premise = models.ForeignKey(
        "enrollment.Premise", on_delete=models.PROTECT, related_name="devices", null=True, blank=True
    )
    pev = models.ForeignKey(
        "enrollment.Pev", on_delete=models.PROTECT, related_name="devices", null=True, blank=True
    )
    enabled = models.BooleanField(default=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=200, blank=True)
    replaced_by = models.OneToOneField(
        "self", on_delete=models.PROTECT, related_name="replaces", null=True, blank=True
    )
    # EUMD only: the physical limit VEE checks reads against, and the interval length in force (Req 25).
    max_power_w = models.PositiveIntegerField(default=19_200)
    interval_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Set by a CSR (Req 25); otherwise the plan's interval applies.")
    )
    interval_since = models.DateTimeField(null=True, blank=True)
    registered_at = models.DateTimeField(db_default=Now())

    objects = DeviceQuerySet.as_manager()

    class Meta:
        ordering = ["-registered_at"]
        constraints = [
            models.CheckConstraint(
                name="device_esci_at_premise",
                condition=~Q(kind="esci") | Q(premise__isnull=False, pev__isnull=True),
            ),
            models.CheckConstraint(
                name="device_eumd_at_premise_or_pev",
                condition=~Q(kind="eumd")
                | Q(premise__isnull=False, pev__isnull=True)
                | Q(premise__isnull=True, pev__isnull=False),
            ),
            models.CheckConstraint(
                name="device_lfdi_lowercase_hex", condition=Q(lfdi__regex=r"^[0-9a-f]{40}$")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.lfdi}"

    @property
    def sfdi_display(self) -> str:
        """The SFDI as printed: 12 digits, zero-padded (an LFDI with leading zeros has a short SFDI)."""
        return f"{self.sfdi:012d}"


class UsedNonce(models.Model):
    """A signature nonce already seen from a device, kept for the `created` window (NF.1).

    In the database rather than Redis so that a Redis outage neither opens replays nor stops devices.
    """

    # Indexed by the unique (device, nonce) it leads: one index less on the insert every request makes.
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="+", db_index=False)
    nonce = models.CharField(max_length=128)
    created = models.DateTimeField(help_text=_("The signature's `created` time; pruned after the window."))

    class Meta:
        constraints = [models.UniqueConstraint(fields=["device", "nonce"], name="used_nonce_once_per_device")]
        indexes = [models.Index(fields=["created"], name="used_nonce_created")]

    def __str__(self) -> str:
        return self.nonce


class IdempotentResponse(models.Model):
    """The response a device request earned, replayed when the device retries with the same key.

    `request_sha256` covers the method, the path and the body: a key reused on another endpoint or binding is
    another request (409), never a replay of the first one's answer.
    """

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=128)
    request_sha256 = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    body = models.JSONField()
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["device", "key"], name="idempotent_response_once_per_device_key")
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotent_response_created")]

    def __str__(self) -> str:
        return f"{self.key} → {self.status_code}"


class PevKey(models.Model):
    """The public key (JWK, P-256) a PEV presented at commissioning; re-bindings are proved with it (Req 28).

    The utility stores only the public key. A key belongs to one enrollment: a new enrollment or a
    re-opened commissioning window re-commissions and revokes the old key.
    """

    pev = models.ForeignKey("enrollment.Pev", on_delete=models.PROTECT, related_name="keys")
    enrollment = models.ForeignKey("enrollment.Enrollment", on_delete=models.PROTECT, related_name="pev_keys")
    public_jwk = models.JSONField()
    thumbprint = models.CharField(max_length=43, help_text=_("RFC 7638 JWK thumbprint (SHA-256)."))
    commissioned_at = models.DateTimeField()
    binding = models.OneToOneField("Binding", on_delete=models.PROTECT, related_name="commissioned_key")
    parameters_version = models.CharField(
        max_length=32, help_text=_("The parameters the PEV holds; a plan or tariff change sends new ones.")
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["pev"], condition=Q(revoked_at__isnull=True), name="pev_key_one_valid_per_pev"
            )
        ]

    def __str__(self) -> str:
        return f"{self.pev.vin} key {self.thumbprint}"


class BindingQuerySet(models.QuerySet):
    def live(self) -> "BindingQuerySet":
        """Bindings that hold their PEV: handshakes in progress and bound sessions."""
        return self.filter(state__in=Binding.LIVE_STATES)

    def handshake_expired(self, now) -> "BindingQuerySet":
        return self.filter(state__in=Binding.HANDSHAKE_STATES, deadline__lte=now)


class Binding(models.Model):
    """One plug-in of a PEV at a premise and what the utility made of it."""

    class State(models.TextChoices):
        AWAITING_PEV_ACK = "awaiting_pev_ack", _("Awaiting PEV acknowledgement")
        AWAITING_EUMD_ACK = "awaiting_eumd_ack", _("Awaiting EUMD acknowledgement")
        BOUND = "bound", _("Bound")
        UNBOUND = "unbound", _("Not bound (default rate)")
        TIMED_OUT = "timed_out", _("Timed out (default rate)")
        ENDED = "ended", _("Ended")
        SUPERSEDED = "superseded", _("Superseded by a later plug-in")
        CLOSED = "closed", _("Closed (never ended by the ESCI)")

    class Kind(models.TextChoices):
        COMMISSIONING = "commissioning", _("Initial commissioning")
        REBINDING = "rebinding", _("Re-binding")
        GUEST = "guest", _("Guest")

    class Reason(models.TextChoices):
        """Why a binding was declined: for CSRs only; devices see a generic reason (no VIN probing)."""

        UNKNOWN_VIN = "unknown_vin", _("VIN not known")
        NOT_ENROLLED = "not_enrolled", _("PEV not currently enrolled")
        OUTSIDE_WINDOW = "outside_window", _("Not commissioned and no commissioning window open")
        NOT_COMMISSIONED = "not_commissioned", _("PEV not commissioned (no key)")
        MISSING_KEY = "missing_key", _("Commissioning without a PEV public key")
        BAD_KEY = "bad_key", _("PEV public key is not a P-256 JWK")
        MISSING_PROOF = "missing_proof", _("Re-binding without a PEV proof")
        BAD_PROOF = "bad_proof", _("PEV proof does not verify")
        PROOF_REUSED = "proof_reused", _("PEV proof already used")
        GUEST_DECLINED = "guest_declined", _("Host premise does not admit this guest")
        ROAMING_NOT_ALLOWED = "roaming_not_allowed", _("PEV's owner does not allow roaming")
        EUMD_UNAVAILABLE = "eumd_unavailable", _("EUMD unknown, disabled or not at this premise or PEV")
        ENROLLMENT_SUSPENDED = "enrollment_suspended", _("Enrollment suspended")
        LATE_PLUG_IN = "late_plug_in", _("Plug-in reported after the plan's binding timeout")
        OUT_OF_ORDER = "out_of_order", _("A later plug-in of this PEV is already live")

    HANDSHAKE_STATES = (State.AWAITING_PEV_ACK, State.AWAITING_EUMD_ACK)
    LIVE_STATES = (*HANDSHAKE_STATES, State.BOUND)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of its own: the natural key's unique index starts with it.
    esci = models.ForeignKey(Device, on_delete=models.PROTECT, related_name="bindings", db_index=False)
    eumd_lfdi = models.CharField(max_length=LFDI_LENGTH)
    eumd = models.ForeignKey(
        Device, on_delete=models.PROTECT, related_name="metered_bindings", null=True, blank=True
    )
    vin = models.CharField(_("PEV ID (VIN) as sent"), max_length=17)
    pev = models.ForeignKey(
        "enrollment.Pev", on_delete=models.PROTECT, related_name="bindings", null=True, blank=True
    )
    # No index of its own: binding_premise_recent starts with it.
    premise = models.ForeignKey(
        "enrollment.Premise", on_delete=models.PROTECT, related_name="bindings", db_index=False
    )
    enrollment = models.ForeignKey(
        "enrollment.Enrollment",
        on_delete=models.PROTECT,
        related_name="bindings",
        null=True,
        blank=True,
        help_text=_("The PEV's own enrollment."),
    )
    billed_enrollment = models.ForeignKey(
        "enrollment.Enrollment",
        on_delete=models.PROTECT,
        related_name="billed_bindings",
        null=True,
        blank=True,
        help_text=_("Whose account and plan the energy is billed to (the host's, for a host-paid guest)."),
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, blank=True)
    state = models.CharField(max_length=20, choices=State.choices)
    reason = models.CharField(max_length=24, choices=Reason.choices, blank=True)
    plugged_in_at = models.DateTimeField()
    deadline = models.DateTimeField(help_text=_("The handshake must finish by then (plan timeout; Req 10)."))
    bound_at = models.DateTimeField(null=True, blank=True)
    unplugged_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(
        null=True, blank=True, help_text=_("When the binding left a live state.")
    )
    parameters_version = models.CharField(max_length=32, blank=True)
    pev_public_jwk = models.JSONField(null=True, blank=True, help_text=_("Offered at commissioning."))
    # NULL without a proof: the unique constraint below ignores NULLs, and would not ignore "".
    proof_sha256 = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    response = models.JSONField(help_text=_("The creation response, replayed to a retrying ESCI."))
    created_at = models.DateTimeField(db_default=Now())

    objects = BindingQuerySet.as_manager()

    class Meta:
        ordering = ["-plugged_in_at"]
        constraints = [
            # A retried plug-in (same ESCI, PEV, time) is the same binding.
            models.UniqueConstraint(fields=["esci", "vin", "plugged_in_at"], name="binding_natural_key"),
            # Each proof is accepted once (Req 28). A constraint rather than unique=True, which on PostgreSQL
            # adds a second, LIKE-pattern index to every plug-in's insert.
            models.UniqueConstraint(fields=["proof_sha256"], name="binding_proof_once"),
            # Two concurrent plug-ins of one PEV never leave two live bindings.
            models.UniqueConstraint(
                fields=["pev"],
                condition=Q(state__in=["awaiting_pev_ack", "awaiting_eumd_ack", "bound"]),
                name="binding_one_live_per_pev",
            ),
        ]
        indexes = [
            models.Index(fields=["premise", "-plugged_in_at"], name="binding_premise_recent"),
            # The sweeps' work lists, kept small: only handshakes and bound sessions are in them.
            models.Index(
                fields=["deadline"],
                condition=Q(state__in=["awaiting_pev_ack", "awaiting_eumd_ack"]),
                name="binding_handshake_deadline",
            ),
            models.Index(fields=["plugged_in_at"], condition=Q(state="bound"), name="binding_bound_since"),
        ]

    def __str__(self) -> str:
        return f"{self.vin} at {self.premise.premise_id} ({self.get_state_display()})"

    def effective_state(self, now) -> str:
        """The state as of `now`: a handshake past its deadline has timed out even before the sweep runs,
        and a session never ended is closed after BINDING_MAX_DURATION_HOURS (Req 10, NF.2–3)."""
        if self.state in self.HANDSHAKE_STATES and now >= self.deadline:
            return self.State.TIMED_OUT
        if self.state == self.State.BOUND and now >= self.plugged_in_at + max_duration():
            return self.State.CLOSED
        return self.state

    def ended_by_time_at(self, state: str):
        """When a binding that ran out of time left its live state: a handshake at its deadline, a session
        never ended at BINDING_MAX_DURATION_HOURS after plug-in. Reads, supersedes and the sweep agree."""
        if state == self.State.TIMED_OUT:
            return self.deadline
        return self.plugged_in_at + max_duration()

    @property
    def handshake_deadline(self):
        """The deadline a device may see: only a commissioning handshake has one (a declined binding's
        deadline would tell its plan's timeout, and so that the VIN is enrolled)."""
        return self.deadline if self.kind == self.Kind.COMMISSIONING else None

    def move_to(self, state: str, *, at) -> None:
        """Change state along an allowed transition (TRANSITIONS); IllegalTransition otherwise."""
        if state not in TRANSITIONS[self.state]:
            raise IllegalTransition(self.state, state)
        self.state = state
        if state == self.State.BOUND:
            self.bound_at = at
        if state not in self.LIVE_STATES:
            self.finished_at = at


class IllegalTransition(Exception):
    """A request that the binding's state does not allow (the API answers 409)."""

    def __init__(self, current: str, wanted: str):
        super().__init__(f"binding is {current}; it cannot become {wanted}")
        self.current = current
        self.wanted = wanted


def max_duration() -> dt.timedelta:
    return dt.timedelta(hours=settings.BINDING_MAX_DURATION_HOURS)


_S = Binding.State
# The binding state machine: every change of `Binding.state` goes through `Binding.move_to`.
TRANSITIONS: dict[str, frozenset[str]] = {
    _S.AWAITING_PEV_ACK: frozenset({_S.AWAITING_EUMD_ACK, _S.TIMED_OUT, _S.SUPERSEDED, _S.ENDED}),
    _S.AWAITING_EUMD_ACK: frozenset({_S.BOUND, _S.TIMED_OUT, _S.SUPERSEDED, _S.ENDED}),
    _S.BOUND: frozenset({_S.ENDED, _S.SUPERSEDED, _S.CLOSED}),
    _S.UNBOUND: frozenset(),
    _S.TIMED_OUT: frozenset(),
    _S.ENDED: frozenset(),
    _S.SUPERSEDED: frozenset(),
    _S.CLOSED: frozenset(),
}


class BindingEvent(models.Model):
    """Every message in and out of a binding, with its sender, for the CSR's binding log (UTC)."""

    class Sender(models.TextChoices):
        ESCI = "esci", _("ESCI")
        EUMD = "eumd", _("EUMD")
        PEV = "pev", _("PEV (relayed)")
        UTILITY = "utility", _("Utility")
        CSR = "csr", _("CSR")

    # Indexed by (binding, at) below, which it leads: one index less on every plug-in's insert.
    binding = models.ForeignKey(Binding, on_delete=models.CASCADE, related_name="events", db_index=False)
    at = models.DateTimeField(db_default=Now())
    sender = models.CharField(max_length=8, choices=Sender.choices)
    sender_id = models.CharField(max_length=64, blank=True, help_text=_("LFDI, VIN or user."))
    event = models.CharField(max_length=32)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["binding", "at"], name="binding_event_binding_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.sender} {self.event}"


class DeviceMessage(models.Model):
    """A utility→device message the ESCI fetches and relays, utility-signed (Req 18, 25, 26). Prices travel
    in `parameters` messages (the next 7 days' schedule) and `event`s (critical-peak days).

    Delivered until acknowledged; an acknowledgement is idempotent.
    """

    class Kind(models.TextChoices):
        INTERVAL_CHANGE = "interval_change", _("EUMD interval length change")
        PARAMETERS = "parameters", _("New PEV parameters (plan or tariff change)")
        EVENT = "event", _("Demand-response event (e.g. critical peak)")

    class Recipient(models.TextChoices):
        ESCI = "esci", _("ESCI")
        EUMD = "eumd", _("EUMD")
        PEV = "pev", _("PEV")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    esci = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="outbox")
    recipient = models.CharField(max_length=4, choices=Recipient.choices)
    recipient_id = models.CharField(max_length=64, help_text=_("LFDI or VIN of the final recipient."))
    kind = models.CharField(max_length=16, choices=Kind.choices)
    payload = models.JSONField()
    jws = models.TextField(help_text=_("The payload signed by the utility (JWS compact, ES256)."))
    created_at = models.DateTimeField(db_default=Now())
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    deliveries = models.PositiveIntegerField(default=0)
    last_delivered_at = models.DateTimeField(null=True, blank=True)
    acked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(
                fields=["esci", "created_at"],
                condition=Q(acked_at__isnull=True),
                name="device_message_pending",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.recipient} {self.recipient_id}"


class PevStatus(models.Model):
    """The latest charging status the ESCI reported for a binding (S4; Req 17, 24): one row per binding.

    Only a later `reported_at` moves it (a retried or late report is ignored). `cost_so_far` adds each
    report's energy increment priced at the TOU price in force when it was reported; it is the live panel's
    estimate, unrounded — the bill rates the EUMD's interval reads (docs/live.md).
    """

    class ChargingState(models.TextChoices):
        CHARGING = "charging", _("Charging")
        IDLE = "idle", _("Plugged in, not charging")
        COMPLETE = "complete", _("Charging complete")
        FAULT = "fault", _("Charging fault")

    binding = models.OneToOneField(
        Binding, on_delete=models.CASCADE, primary_key=True, related_name="pev_status"
    )
    reported_at = models.DateTimeField(help_text=_("When the ESCI took the reading (its UTC clock)."))
    received_at = models.DateTimeField()
    charging_state = models.CharField(max_length=10, choices=ChargingState.choices)
    state_of_charge = models.DecimalField(
        _("state of charge (%)"), max_digits=5, decimal_places=2, help_text=_("0–100 %.")
    )
    power_w = models.PositiveIntegerField(_("power (W)"))
    time_to_complete_s = models.PositiveIntegerField(_("time to complete (s)"), null=True, blank=True)
    session_energy_wh = models.PositiveBigIntegerField(_("energy this session (Wh)"))
    cost_so_far = models.DecimalField(
        max_digits=16, decimal_places=8, default=0, help_text=_("$; unrounded (kWh × $/kWh per increment).")
    )
    price_per_kwh = models.DecimalField(
        max_digits=12,
        decimal_places=5,
        null=True,
        blank=True,
        help_text=_("$/kWh in force at reported_at; empty when the tariff has no price then."),
    )
    period_label = models.CharField(max_length=100, blank=True)

    class Meta:
        verbose_name = _("PEV status")
        verbose_name_plural = _("PEV statuses")

    def __str__(self) -> str:
        return f"{self.binding_id}: {self.charging_state} at {self.reported_at:%Y-%m-%d %H:%M:%S}"
