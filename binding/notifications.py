"""Telling customers what binding did (issue 7; Req 17, 24): their vehicle is set up, a plug-in at home was
not recognised (with what to do), a guest charged at a premise (host and guest both hear of it).

Each is a `pevportal.notifications.Notice`, stored in the transaction that decided the binding and emailed
after it commits. The binding id is in the dedupe key: a retried request, or the second of the paths that
can persist a handshake's timeout (an acknowledgement, a later plug-in, the sweep), tells no one twice.
"""

from django.db.models import F, OuterRef, Subquery

from enrollment.models import CommissioningWindow
from pevportal.models import Notification
from pevportal.notifications import Notice, notify

from .models import Binding

State = Binding.State
Reason = Binding.Reason
Kind = Notification.Kind

# A stale report of an earlier plug-in while a later one is live: nothing the customer needs to act on.
NOT_TOLD = (Reason.OUT_OF_ORDER,)
# Declines that setting the vehicle up again (a re-opened window: new key, fresh proofs) cures.
SETUP_CURES = (
    Reason.OUTSIDE_WINDOW,
    Reason.NOT_COMMISSIONED,
    Reason.MISSING_KEY,
    Reason.BAD_KEY,
    Reason.MISSING_PROOF,
    Reason.BAD_PROOF,
    Reason.PROOF_REUSED,
)


def plug_in_decided(binding: Binding) -> None:
    """A new binding: a guest session tells host and guest; a decline of a PEV enrolled at this premise
    tells its owner. Other declines (unknown VINs, guests elsewhere) tell no one and cost no query."""
    if binding.kind == Binding.Kind.GUEST:
        notify(_guest_notices(_sessions([binding.pk])))
    elif (
        binding.state == State.UNBOUND
        and binding.enrollment is not None
        and binding.enrollment.premise_id == binding.premise_id
        and binding.reason not in NOT_TOLD
    ):
        sessions_failed([binding.pk])


def commissioned(binding: Binding) -> None:
    """The first binding of an enrollment is bound: the customer's vehicle is set up (Req 17, 24)."""
    notices = []
    for session in _sessions([binding.pk]):
        notices.append(
            Notice(
                kind=Kind.COMMISSIONED,
                dedupe_key=f"commissioned:{session.pk}",
                account_id=session.enrollment.account_id,
                params={**_session_params(session), "bound_at": session.bound_at, "plan": session.plan_name},
            )
        )
    notify(notices)


def sessions_failed(binding_ids) -> None:
    """Bindings declined or timed out: tell the owners of those whose PEV is enrolled at that premise."""
    failed = (
        _sessions(binding_ids)
        .filter(state__in=[State.UNBOUND, State.TIMED_OUT], enrollment__premise_id=F("premise_id"))
        .exclude(reason__in=NOT_TOLD)
    )
    notify(
        Notice(
            kind=Kind.BINDING_FAILED,
            dedupe_key=f"binding-failed:{session.pk}",
            account_id=session.enrollment.account_id,
            params={
                **_session_params(session),
                "state": session.state,
                "advice": _advice(session),
                "enrollment_id": session.enrollment_id,
                "window_closes_at": session.window_closes_at,
            },
        )
        for session in failed
    )


def _advice(session: Binding) -> str:
    """What the customer can do: set the vehicle up again, plug in again, or call us."""
    if session.state == State.TIMED_OUT or session.reason in SETUP_CURES:
        return "setup"
    if session.reason == Reason.LATE_PLUG_IN:
        return "retry"
    return "call"


def _guest_notices(sessions) -> list[Notice]:
    notices = []
    for session in sessions:
        params = {
            **_session_params(session),
            "billed_to_host": session.billed_enrollment.account_id == session.premise.account_id,
        }
        notices += [
            Notice(
                kind=Kind.GUEST_AT_PREMISE,
                dedupe_key=f"guest-host:{session.pk}",
                account_id=session.premise.account_id,
                params=params,
            ),
            Notice(
                kind=Kind.GUEST_SESSION,
                dedupe_key=f"guest:{session.pk}",
                account_id=session.enrollment.account_id,
                params=params,
            ),
        ]
    return notices


def _sessions(binding_ids):
    """The bindings with what their notices say, in one query."""
    window = CommissioningWindow.objects.filter(
        enrollment=OuterRef("enrollment_id"), closes_at__gt=OuterRef("plugged_in_at")
    ).order_by("-closes_at")
    return (
        Binding.objects.filter(pk__in=list(binding_ids))
        .select_related("pev", "premise__default_tariff", "enrollment", "billed_enrollment")
        .defer("response", "pev_public_jwk")
        .annotate(
            window_closes_at=Subquery(window.values("closes_at")[:1]),
            plan_name=F("enrollment__plan__name"),
        )
    )


def _session_params(session: Binding) -> dict:
    return {
        "vehicle": session.pev.description if session.pev else session.vin,
        "address": session.premise.service_address,
        "plugged_in_at": session.plugged_in_at,
        "time_zone": session.premise.default_tariff.time_zone,
    }
