"""The utility's side of binding (scenario 1 steps 5–16, scenario 2; Req 6–14, 16–19, 22–24, 27–28).

A plug-in is commissioned (`request_binding` → `confirm_pev_ack` → `confirm_eumd_ack` → bound), re-bound or
admitted as a guest at once with the PEV's proof, or declined: `unbound`, and charging proceeds at the
premise's default rate (Req 7, BR.4, BR.6). A handshake not finished by its deadline has timed out (Req 10).

Each function is atomic and logs every message in and out as a `BindingEvent`. Devices only ever learn
*that* a binding was declined; why goes to the CSR log, so an ESCI cannot probe which VINs are enrolled: the
answer, its status and the plug-in window are the same for every VIN. Declining an enrolled VIN still costs a
few more queries than an unknown one; an ESCI would have to time that through the network, signed, rate
limited and logged, which we accept.
"""

import contextlib
import dataclasses
import datetime as dt
import uuid

import structlog
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q

from enrollment.models import CommissioningWindow, Enrollment, GuestCharging, Pev, Premise
from pevportal import audit
from pevportal.models import Channel
from pevportal.prepared import InsertRows

from . import jws, live, notifications, parameters, proofs
from .clock import utc_second
from .facts import PlugInFacts, read_facts
from .models import Binding, BindingEvent, Device, IllegalTransition, PevKey, UsedNonce, max_duration
from .nonces import DeferredNonce

log = structlog.get_logger(__name__)

DEFAULT_TIMEOUT_SECONDS = 60
FUTURE_TOLERANCE = dt.timedelta(seconds=5)
DECLINED_REASON = "not_validated"
FALLBACK = "premise_default_rate"
SWEEP_BATCH = 5_000
# Every plug-in inserts a binding, its first two events and (deferred by its view) its request's nonce in one
# prepared statement (pevportal/prepared.py), as compiling save() and bulk_create() cost more than the inserts
# at the evening peak (bench/binding.py).
_INSERT_BINDING = InsertRows(Binding)
_INSERT_EVENT = InsertRows(BindingEvent)
_INSERT_NONCE = InsertRows(UsedNonce)

State = Binding.State
Reason = Binding.Reason
Sender = BindingEvent.Sender


class HandshakeError(Exception):
    """A request the handshake refuses; `code` names it in the device error catalogue."""

    code = "invalid"

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class InvalidRequest(HandshakeError):
    code = "invalid_request"


class ForeignPremise(HandshakeError):
    code = "wrong_premise"


class BindingNotFound(HandshakeError):
    code = "not_found"


class Conflict(HandshakeError):
    code = "conflict"


@dataclasses.dataclass(frozen=True)
class PlugIn:
    """A plug-in as the ESCI reported it. `plugged_in_at_text` is kept as sent: the PEV's proof signs it."""

    esci: Device
    vin: str
    premise_id: str
    eumd_lfdi: str
    plugged_in_at: dt.datetime
    plugged_in_at_text: str
    pev_public_key: dict | None = None
    pev_proof: str | None = None


@dataclasses.dataclass
class _Decision:
    state: str
    reason: str = ""
    kind: str = ""
    billed_enrollment: Enrollment | None = None
    eumd: Device | None = None
    public_jwk: dict | None = None
    proof_sha256: str | None = None


def request_binding(plug: PlugIn, *, now: dt.datetime, nonce: DeferredNonce | None = None) -> Binding:
    """Decide a plug-in. A retry (same ESCI, VIN and plug-in time) returns the binding it created.

    Optimistic first, as the evening peak needs (bench/binding.py): a PEV with no live binding is decided
    from facts read without its row lock and stored in one statement, with no transaction round trips around
    it. A plug-in of the same PEV, or with the same proof, stored in between fails a unique index (one live
    binding per PEV, each proof once, the natural key); so does nothing else. Then, and for a PEV whose live
    binding must be superseded, the plug-in is decided again holding the PEV's row lock, which serialises it
    with the other plug-in.

    `nonce`, the request's signature nonce when its view defers it (binding/nonces.py), is stored in that
    one statement too. Before the plug-in is decided again it is recorded alone: a replayed request raises
    `nonces.Replayed` there, having changed nothing.
    """
    premise = plug.esci.premise
    if plug.premise_id != premise.premise_id:
        log.warning("binding.foreign_premise", esci=plug.esci.lfdi, premise_id=plug.premise_id)
        raise ForeignPremise("this ESCI is not registered to that premise")
    try:
        try:
            # Inside a caller's transaction (an Idempotency-Key) a savepoint lets a conflict be retried.
            with transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext():
                return _create(plug, premise, now, locked=False, nonce=nonce)
        except (IntegrityError, _Contended):
            if nonce is not None:
                nonce.record()  # the statement may have failed on it: then this is a replay
            with transaction.atomic():
                return _create(plug, premise, now, locked=True)
    except (IntegrityError, InvalidRequest):
        # A retry is the rare case, so it is not looked for first: it fails the natural key's unique index
        # (or, late, the window) and then gets the binding the first request created.
        existing = Binding.objects.filter(
            esci=plug.esci, vin=plug.vin, plugged_in_at=plug.plugged_in_at
        ).first()
        if existing is None:
            raise
        return existing


def confirm_pev_ack(
    binding_id: uuid.UUID, *, esci: Device, parameters_version: str, pev_signature: str, now: dt.datetime
) -> tuple[Binding, str]:
    """The PEV accepted its parameters (steps 12–13, Req 19): the binding and the EUMD's signed discovery
    (step 14). An acknowledgement out of turn is a conflict; a device retries with an Idempotency-Key."""
    with transaction.atomic():
        binding = _locked(binding_id, Q(esci=esci))
        _event(binding, Sender.PEV, binding.vin, "pev_ack", {"parameters_version": parameters_version})
        refusal = _expire_if_due(binding, now) or _check_commissioning(binding, parameters_version)
        if refusal is None and not proofs.verifies(
            binding.pev_public_jwk, proofs.ack_message(str(binding.pk), parameters_version), pev_signature
        ):
            refusal = InvalidRequest("pev_signature does not verify with the key offered at plug-in")
        if refusal is None:
            refusal = _move(binding, State.AWAITING_EUMD_ACK, now)
        if refusal is None:
            binding.save()
        if refusal is None:
            discovery = jws.sign(_eumd_payload("eumd-discovery", binding, _interval(binding), now))
            _event(binding, Sender.UTILITY, "", "eumd_discovery_sent", {"eumd_lfdi": binding.eumd_lfdi})
        else:
            _event(binding, Sender.UTILITY, "", "ack_refused", {"detail": refusal.detail})
    if refusal is not None:
        raise refusal
    return binding, discovery


def confirm_eumd_ack(
    binding_id: uuid.UUID, *, eumd: Device, parameters_version: str, interval_seconds: int, now: dt.datetime
) -> tuple[Binding, str]:
    """The EUMD took its discovery (steps 15–16, Req 24, 27): the session is bound and commissioning ends.
    Returns the binding and the PEV's signed confirmation. Out of turn, it is a conflict."""
    with transaction.atomic():
        binding = _locked(binding_id, Q(eumd=eumd))
        _event(binding, Sender.EUMD, eumd.lfdi, "eumd_ack", {"interval_seconds": interval_seconds})
        refusal = _expire_if_due(binding, now) or _check_commissioning(binding, parameters_version)
        if refusal is None and interval_seconds != _interval(binding):
            refusal = Conflict(
                f"interval_seconds {interval_seconds} differs from the discovery's {_interval(binding)}"
            )
        if refusal is None:
            refusal = _move(binding, State.BOUND, now)
        if refusal is None:
            binding.save()
            live.publish(binding.pk)
            _commission(binding, now)
            notifications.commissioned(binding)
            _event(binding, Sender.UTILITY, "", "bound", {"kind": binding.kind})
        if refusal is not None:
            _event(binding, Sender.UTILITY, "", "ack_refused", {"detail": refusal.detail})
    if refusal is not None:
        raise refusal
    return binding, _pev_confirmation(binding, now)


def end_binding(
    binding_id: uuid.UUID, *, esci: Device, unplugged_at: dt.datetime, now: dt.datetime
) -> Binding:
    """The PEV was unplugged. Ending twice, or ending a declined binding, records the time and no more."""
    with transaction.atomic():
        # The ESCI that replaced a failed one may end the sessions it left behind.
        binding = _locked(binding_id, Q(esci=esci) | Q(esci__replaced_by=esci))
        if unplugged_at < binding.plugged_in_at or unplugged_at > now + FUTURE_TOLERANCE:
            raise InvalidRequest("unplugged_at must lie between plugged_in_at and now")
        _event(binding, Sender.ESCI, esci.lfdi, "unplugged", {"unplugged_at": unplugged_at})
        _expire_if_due(binding, now)
        if binding.state in Binding.LIVE_STATES:
            binding.move_to(State.ENDED, at=unplugged_at)
        if binding.unplugged_at is None:
            binding.unplugged_at = unplugged_at
        binding.save()
        live.publish(binding.pk)
    return binding


def binding_for(binding_id: uuid.UUID, device: Device, *, now: dt.datetime) -> Binding:
    """A binding its ESCI (or its EUMD) may read, with the state as of now."""
    binding = Binding.objects.filter(pk=binding_id).filter(Q(esci=device) | Q(eumd=device)).first()
    if binding is None:
        raise BindingNotFound("no such binding for this device")
    binding.state = binding.effective_state(now)
    return binding


def expire_handshakes(now: dt.datetime) -> int:
    """Persist the timeouts of handshakes past their deadline (beat; reads are already right before)."""
    return _sweep(Binding.objects.handshake_expired(now), State.TIMED_OUT, "timed_out")


def close_stale_bindings(now: dt.datetime) -> int:
    """Close bound sessions that no ESCI ended within BINDING_MAX_DURATION_HOURS."""
    stale = Binding.objects.filter(state=State.BOUND, plugged_in_at__lte=now - max_duration())
    return _sweep(stale, State.CLOSED, "closed")


# --- Deciding a plug-in -----------------------------------------------------------------------------


class _Contended(Exception):
    """The PEV has a live binding to supersede: decide again holding its row lock."""


def _create(
    plug: PlugIn, premise: Premise, now: dt.datetime, *, locked: bool, nonce: DeferredNonce | None = None
) -> Binding:
    facts = read_facts(
        lock=locked,
        vin=plug.vin,
        premise_id=premise.pk,
        eumd_lfdi=plug.eumd_lfdi,
        plugged_in_at=plug.plugged_in_at,
        proof_digest=proofs.digest(plug.pev_proof) if plug.pev_proof else "",
        default_window=DEFAULT_TIMEOUT_SECONDS,
    )
    # One window for every VIN (the longest plan timeout): a window, or a refusal, that depended on the
    # VIN's own plan would tell an ESCI which VINs are enrolled.
    if not now - facts.window <= plug.plugged_in_at <= now + FUTURE_TOLERANCE:
        seconds = int(facts.window.total_seconds())
        raise InvalidRequest(
            f"plugged_in_at must be within the last {seconds} s (server time {utc_second(now)})"
        )
    pev, enrollment = facts.pev, facts.enrollment
    timeout = enrollment.plan.binding_timeout_seconds if enrollment else DEFAULT_TIMEOUT_SECONDS
    deadline = plug.plugged_in_at + dt.timedelta(seconds=timeout)

    if pev is not None and now >= deadline:
        # Reported after its own plan's timeout: the handshake could not finish in time (Req 10).
        decision = _Decision(State.UNBOUND, Reason.LATE_PLUG_IN)
    elif facts.later_live:
        decision = _Decision(State.UNBOUND, Reason.OUT_OF_ORDER)
    else:
        decision = _decide(plug, premise, facts, now)
    if facts.has_live and decision.state in Binding.LIVE_STATES:
        if not locked:
            raise _Contended
        _supersede_live(pev, plug.plugged_in_at, now)
    plan = enrollment.plan if enrollment else None
    binding = Binding(
        esci=plug.esci,
        eumd_lfdi=plug.eumd_lfdi,
        eumd=decision.eumd,
        vin=plug.vin,
        pev=pev,
        premise=premise,
        enrollment=enrollment,
        billed_enrollment=decision.billed_enrollment,
        kind=decision.kind,
        state=decision.state,
        reason=decision.reason,
        plugged_in_at=plug.plugged_in_at,
        deadline=deadline,
        pev_public_jwk=decision.public_jwk,
        proof_sha256=decision.proof_sha256,
        response={},
    )
    if decision.state == State.BOUND:
        binding.bound_at = now
    if decision.state == State.UNBOUND:
        binding.finished_at = now
    if plan is not None and decision.state in Binding.LIVE_STATES:
        binding.parameters_version = parameters.parameters_version(plan, now)
    binding.response = _creation_response(binding, plan, now)
    along = [(_INSERT_EVENT, _creation_events(binding, plug))]
    if nonce is not None and not nonce.recorded:
        along.append((_INSERT_NONCE, [nonce.row()]))
    _INSERT_BINDING.insert([binding], along=along)
    if nonce is not None:
        nonce.recorded = True
    # A declined plug-in is what operations look for in the log (a spoofed VIN, a misconfigured ESCI); the
    # others are in the binding's event log. At the evening peak a line for each, 10,000 a minute, was a
    # write to the log stream per plug-in: with gunicorn's threads each such write hands the GIL over, and
    # measured, the line cost several percent of a re-binding's CPU (bench/binding.py).
    (log.info if binding.state == State.UNBOUND else log.debug)(
        "binding.requested",
        binding=str(binding.pk),
        state=binding.state,
        reason=binding.reason,
        kind=binding.kind,
    )
    live.publish_created(binding, now=now)
    notifications.plug_in_decided(binding)
    return binding


def _decide(plug: PlugIn, premise: Premise, facts: PlugInFacts, now: dt.datetime) -> _Decision:
    enrollment = facts.enrollment
    if facts.pev is None:
        return _Decision(State.UNBOUND, Reason.UNKNOWN_VIN)
    if enrollment is None:
        return _Decision(State.UNBOUND, Reason.NOT_ENROLLED)
    if enrollment.status == Enrollment.Status.SUSPENDED:
        return _Decision(State.UNBOUND, Reason.ENROLLMENT_SUSPENDED)
    if facts.eumd is None:
        return _Decision(State.UNBOUND, Reason.EUMD_UNAVAILABLE)
    if enrollment.premise_id == premise.pk:
        decision = _decide_at_home(plug, facts, now)
    else:
        decision = _decide_as_guest(plug, premise, facts)
    decision.eumd = facts.eumd if decision.state != State.UNBOUND else None
    return decision


def _decide_at_home(plug: PlugIn, facts: PlugInFacts, now: dt.datetime) -> _Decision:
    enrollment, key = facts.enrollment, facts.key
    if plug.pev_proof is not None and key is not None:
        refusal, digest = _check_proof(plug, key, facts.proof_used)
        if refusal:
            return _Decision(State.UNBOUND, refusal)
        return _Decision(
            State.BOUND, kind=Binding.Kind.REBINDING, billed_enrollment=enrollment, proof_sha256=digest
        )
    if plug.pev_public_key is not None:
        try:
            jwk = proofs.public_jwk(plug.pev_public_key)
        except proofs.InvalidPevKey:
            return _Decision(State.UNBOUND, Reason.BAD_KEY)
        if enrollment.commissioning_window(now) is None:
            return _Decision(State.UNBOUND, Reason.OUTSIDE_WINDOW)
        return _Decision(
            State.AWAITING_PEV_ACK,
            kind=Binding.Kind.COMMISSIONING,
            billed_enrollment=enrollment,
            public_jwk=jwk,
        )
    return _Decision(State.UNBOUND, Reason.MISSING_PROOF if key else Reason.NOT_COMMISSIONED)


def _decide_as_guest(plug: PlugIn, premise: Premise, facts: PlugInFacts) -> _Decision:
    """A PEV away from home (DOMAIN.md "Guest charging"): its owner allows roaming, its proof holds, and
    the host premise admits it; billed to the host or the guest as the host chose."""
    enrollment, key = facts.enrollment, facts.key
    if not enrollment.allow_roaming:
        return _Decision(State.UNBOUND, Reason.ROAMING_NOT_ALLOWED)
    if key is None:
        return _Decision(State.UNBOUND, Reason.NOT_COMMISSIONED)
    if plug.pev_proof is None:
        return _Decision(State.UNBOUND, Reason.MISSING_PROOF)
    refusal, digest = _check_proof(plug, key, facts.proof_used)
    if refusal:
        return _Decision(State.UNBOUND, refusal)
    host = _host_enrollment(premise, plug.vin)
    if host is None:
        return _Decision(State.UNBOUND, Reason.GUEST_DECLINED)
    billed = host if host.guest_charging == GuestCharging.HOST else enrollment
    return _Decision(State.BOUND, kind=Binding.Kind.GUEST, billed_enrollment=billed, proof_sha256=digest)


def _host_enrollment(premise: Premise, vin: str) -> Enrollment | None:
    """The host premise's enrollment that admits this guest: the earliest current one whose preference is
    not `declined` and whose allow-list, if any, names the VIN."""
    candidates = (
        Enrollment.objects.current()
        .filter(premise=premise)
        .exclude(status=Enrollment.Status.SUSPENDED)
        .exclude(guest_charging=GuestCharging.DECLINED)
        .select_related("account", "plan")
        .order_by("effective_from", "pk")
    )
    return next((e for e in candidates if not e.guest_vins or vin in e.guest_vins), None)


def _check_proof(plug: PlugIn, key: PevKey, used: bool) -> tuple[str, str | None]:
    """('', digest) for a fresh valid proof, else (reason, None). Each proof is accepted once."""
    message = proofs.proof_message(plug.vin, plug.premise_id, plug.esci.lfdi, plug.plugged_in_at_text)
    if not proofs.verifies(key.public_jwk, message, plug.pev_proof or ""):
        return Reason.BAD_PROOF, None
    if used:
        return Reason.PROOF_REUSED, None
    return "", proofs.digest(plug.pev_proof or "")


def _supersede_live(pev: Pev, at: dt.datetime, now: dt.datetime) -> None:
    """A new plug-in of the PEV ends its earlier live binding (or times out a stale handshake)."""
    # Only the columns a transition touches: the rows' JSON (response, keys) is not needed here.
    earlier_bindings = (
        Binding.objects.live().filter(pev=pev).only("state", "deadline", "plugged_in_at", "finished_at")
    )
    for earlier in earlier_bindings:
        state = earlier.effective_state(now)
        if state == earlier.state:
            earlier.move_to(State.SUPERSEDED, at=at)
        else:
            earlier.move_to(state, at=earlier.ended_by_time_at(state))
        earlier.save(update_fields=["state", "finished_at"])
        live.publish(earlier.pk)
        _event(earlier, Sender.UTILITY, "", earlier.state, {"by_plug_in_at": at})
        if earlier.state == State.TIMED_OUT:
            notifications.sessions_failed([earlier.pk])


# --- Responses and the signed items in them ----------------------------------------------------------


def _creation_response(binding: Binding, plan, now: dt.datetime) -> dict:
    response = {
        "binding_id": str(binding.pk),
        "state": binding.state,
        "plugged_in_at": utc_second(binding.plugged_in_at),
    }
    if binding.state == State.UNBOUND:
        return {**response, "reason": DECLINED_REASON, "fallback": FALLBACK}
    interval = parameters.interval_seconds(plan, binding.eumd)
    response.update(kind=binding.kind, interval_seconds=interval)
    if binding.state == State.AWAITING_PEV_ACK:
        payload = parameters.pev_parameters(
            binding_id=str(binding.pk),
            vin=binding.vin,
            premise_id=binding.premise.premise_id,
            plan=plan,
            interval=interval,
            version=binding.parameters_version,
            public_jwk=binding.pev_public_jwk,
            at=now,
        )
        return {**response, "expires_at": utc_second(binding.deadline), "pev_parameters": jws.sign(payload)}
    return {
        **response,
        "eumd_confirmation": jws.sign(_eumd_payload("eumd-confirmation", binding, interval, now)),
        "pev_confirmation": _pev_confirmation(binding, now),
    }


def _interval(binding: Binding) -> int:
    """The interval length the binding's EUMD was told at creation (its creation response keeps it)."""
    return binding.response["interval_seconds"]


def _eumd_payload(typ: str, binding: Binding, interval: int, now: dt.datetime) -> dict:
    return {
        "typ": typ,
        "binding_id": str(binding.pk),
        "eumd_lfdi": binding.eumd_lfdi,
        "pev_id": binding.vin,
        "interval_seconds": interval,
        "parameters_version": binding.parameters_version,
        "iat": int(now.timestamp()),
    }


def _pev_confirmation(binding: Binding, now: dt.datetime) -> str:
    plan = binding.billed_enrollment.plan if binding.billed_enrollment else None
    return jws.sign(
        {
            "typ": "pev-confirmation",
            "binding_id": str(binding.pk),
            "pev_id": binding.vin,
            "premise_id": binding.premise.premise_id,
            "kind": binding.kind,
            "plan": plan.code if plan else None,
            "parameters_version": binding.parameters_version,
            "iat": int(now.timestamp()),
        }
    )


# --- State changes ------------------------------------------------------------------------------------


def _locked(binding_id: uuid.UUID, owner: Q) -> Binding:
    """The binding, locked, if `owner` (its ESCI or EUMD) may act on it; someone else's is not found."""
    binding = (
        # of=self: the nullable joins cannot be locked (PostgreSQL), and only the binding needs to be.
        Binding.objects.select_for_update(of=("self",))
        .select_related("premise", "billed_enrollment__plan")
        .filter(owner, pk=binding_id)
        .first()
    )
    if binding is None:
        raise BindingNotFound("no such binding for this device")
    return binding


def _expire_if_due(binding: Binding, now: dt.datetime) -> HandshakeError | None:
    state = binding.effective_state(now)
    if state == binding.state:
        return None
    binding.move_to(state, at=binding.ended_by_time_at(state))
    binding.save()
    live.publish(binding.pk)
    _event(binding, Sender.UTILITY, "", state, {})
    if state == State.TIMED_OUT:
        notifications.sessions_failed([binding.pk])
    return Conflict(f"binding is {state}")


def _check_commissioning(binding: Binding, version: str) -> HandshakeError | None:
    """Acks belong to a commissioning handshake, for the parameters it sent."""
    if binding.kind != Binding.Kind.COMMISSIONING:
        return Conflict(
            f"binding is {binding.state} ({binding.kind or 'declined'}): there is nothing to acknowledge"
        )
    if version != binding.parameters_version:
        return Conflict(
            f"parameters_version {version!r} is not the one sent ({binding.parameters_version!r})"
        )
    return None


def _move(binding: Binding, state: str, now: dt.datetime) -> HandshakeError | None:
    try:
        binding.move_to(state, at=now)
    except IllegalTransition as error:
        return Conflict(str(error))
    return None


def _commission(binding: Binding, now: dt.datetime) -> None:
    """A first binding makes the PEV's key the one its re-bindings are proved with (Req 19, 28)."""
    if binding.kind != Binding.Kind.COMMISSIONING:
        return
    enrollment = binding.enrollment
    PevKey.objects.filter(pev_id=binding.pev_id, revoked_at__isnull=True).update(revoked_at=now)
    PevKey.objects.create(
        pev_id=binding.pev_id,
        enrollment=enrollment,
        public_jwk=binding.pev_public_jwk,
        thumbprint=proofs.thumbprint(binding.pev_public_jwk),
        commissioned_at=now,
        binding=binding,
        parameters_version=binding.parameters_version,
    )
    # Commissioning is done: the window closes so no one else can commission this VIN until a CSR reopens it.
    CommissioningWindow.objects.filter(enrollment=enrollment, closes_at__gt=now).update(closes_at=now)
    if enrollment.status == Enrollment.Status.PENDING_COMMISSIONING:
        enrollment.status = Enrollment.Status.ACTIVE
        enrollment.save(update_fields=["status"])
        audit.record(
            action="enrollment.commissioned",
            target=enrollment,
            channel=Channel.DEVICE,
            actor_label=f"esci:{binding.esci.lfdi}",
            before={"status": Enrollment.Status.PENDING_COMMISSIONING},
            after={"status": Enrollment.Status.ACTIVE},
            context={"binding": str(binding.pk)},
        )


def _sweep(queryset, state: str, event: str) -> int:
    """Persist a time-driven transition (handshake → timed_out, bound → closed) set-based, in batches; the
    instant is the one `Binding.ended_by_time_at` gives, as when a read or a supersede notices it first."""
    ended_at = F("deadline") if state == State.TIMED_OUT else F("plugged_in_at") + max_duration()
    done = 0
    while True:
        with transaction.atomic():
            # skip_locked: a binding an ack holds right now is decided by that ack, not by the sweep.
            batch = list(
                queryset.select_for_update(skip_locked=True).values_list("pk", flat=True)[:SWEEP_BATCH]
            )
            if not batch:
                return done
            Binding.objects.filter(pk__in=batch).update(state=state, finished_at=ended_at)
            live.publish(*batch)
            BindingEvent.objects.bulk_create(
                BindingEvent(binding_id=pk, sender=Sender.UTILITY, event=event) for pk in batch
            )
            if state == State.TIMED_OUT:
                notifications.sessions_failed(batch)
        done += len(batch)


def _creation_events(binding: Binding, plug: PlugIn) -> list[BindingEvent]:
    """The binding's first log entries: the plug-in as the ESCI reported it, and the decision."""
    request = {
        "premise_id": plug.premise_id,
        "eumd_lfdi": plug.eumd_lfdi,
        "plugged_in_at": plug.plugged_in_at_text,
        "pev_public_key": proofs.thumbprint(binding.pev_public_jwk) if binding.pev_public_jwk else None,
        "pev_proof": plug.pev_proof is not None,
    }
    events = [
        BindingEvent(
            binding=binding, sender=Sender.ESCI, sender_id=plug.esci.lfdi, event="plug_in", detail=request
        )
    ]
    if binding.state == State.UNBOUND:
        events.append(
            BindingEvent(
                binding=binding, sender=Sender.UTILITY, event="declined", detail={"reason": binding.reason}
            )
        )
    elif binding.state == State.AWAITING_PEV_ACK:
        events.append(
            BindingEvent(
                binding=binding,
                sender=Sender.UTILITY,
                event="parameters_sent",
                detail={"parameters_version": binding.parameters_version},
            )
        )
    else:
        events.append(
            BindingEvent(
                binding=binding,
                sender=Sender.UTILITY,
                event="bound",
                detail={"kind": binding.kind, "billed_enrollment": binding.billed_enrollment_id},
            )
        )
    return events


def _event(binding: Binding, sender: str, sender_id: str, event: str, detail: dict) -> None:
    BindingEvent.objects.create(
        binding=binding, sender=sender, sender_id=sender_id, event=event, detail=audit.json_safe(detail)
    )
