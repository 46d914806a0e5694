"""The live charging panel (S4; Req 17, 24): what a customer sees of the sessions at their premises and of
their vehicles charging as guests elsewhere, on the dashboard and over WebSockets (docs/live.md).

`live_panels(accounts)` builds the panels of the open sessions an account may see, in one query. A panel is
built for one audience account: the vehicle's owner sees its VIN (last six characters); a host sees a
guest's session without it; only the account that pays for the energy sees its cost. `publish(*ids)` sends
the bindings' panels, after the transaction commits, to the channel group `account.<pk>` of each account
that may see them — never a wider group — and swallows a channel-layer outage: a device request never fails
because Redis is down (the next report, or a page load, brings the panel up to date).
"""

import asyncio
import datetime as dt
import hashlib
import time
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

import structlog
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from redis.exceptions import RedisError

from enrollment.models import UtilityAccount
from pevportal.channel_layers import PubSubChannelLayer

from .models import Binding, PevStatus, max_duration

log = structlog.get_logger(__name__)

EVENT_TYPE = "live.panel"
LIVE_SCOPE = "live:read"
SEND_TIMEOUT_SECONDS = 2.0  # as the layer's publish_timeout (pevportal/channel_layers.py) for sync sends
# After a failed send, publishing waits this long before trying the layer again, so that every device
# request does not wait out a dead Redis first (as the device rate limit does; docs/operations.md).
LAYER_RETRY_AFTER = 10.0
# Sends of async callers still waiting on their loop, beyond which new ones are dropped (logged): a slow
# layer must not pile up memory in a server process.
MAX_SENDS_IN_FLIGHT = 1000
CENT = Decimal("0.01")
OVER_STATES = (Binding.State.ENDED, Binding.State.SUPERSEDED, Binding.State.CLOSED)

STATUS_TEXT = {
    "charging_on_plan": _("Charging on your EV plan"),
    "connecting": _("Connecting to your EV plan…"),
    "standard_rate": _("Charging at the standard rate — the car did not connect to the programme"),
    "not_enrolled": _("A vehicle that is not enrolled is charging at your standard rate"),
    "guest_on_your_plan": _("A guest vehicle is charging on your EV plan"),
    "guest_billed_to_owner": _("A guest vehicle is charging, billed to its owner's account"),
    "guest_at_standard_rate": _("A guest vehicle is charging at your standard rate"),
    "guest_host_pays": _("Charging as a guest; your host pays for this session"),
    "guest_on_own_plan": _("Charging as a guest, billed on your EV plan"),
    "unplugged": _("Unplugged"),
}
CHARGING_STATE_TEXT = {
    **{state.value: state.label for state in PevStatus.ChargingState},
    None: _("Waiting for the charger's first report"),
}

# The relations `panel_for` reads: loaded with the binding, a panel needs no query.
PANEL_RELATIONS = ("pev", "premise__default_tariff", "enrollment", "billed_enrollment")

_layer_down_until = 0.0
_in_flight: set[asyncio.Task] = set()


def group_name(account_id: int) -> str:
    """The one channel group of an account: every socket of a user linked to it joins it."""
    return f"account.{account_id}"


def open_sessions(now: dt.datetime) -> Q:
    """Bindings whose PEV is still plugged in: not unplugged, ended or closed, nor older than
    BINDING_MAX_DURATION_HOURS (a session no ESCI ended). Declined and timed-out ones still charge, at the
    premise's default rate (Req 7, 10)."""
    return (
        Q(unplugged_at__isnull=True) & ~Q(state__in=OVER_STATES) & Q(plugged_in_at__gt=now - max_duration())
    )


def session_over(binding: Binding, now: dt.datetime) -> bool:
    """`open_sessions` for one loaded binding, negated."""
    return (
        binding.unplugged_at is not None
        or binding.state in OVER_STATES
        or binding.plugged_in_at <= now - max_duration()
    )


def live_panels(accounts: Iterable[UtilityAccount | int], *, now: dt.datetime | None = None) -> list[dict]:
    """The panels of the open sessions at these accounts' premises and of their vehicles bound as guests
    elsewhere, newest plug-in first; one query. Accounts are objects or primary keys (a user's linked
    ones)."""
    now = now or timezone.now()
    account_ids = {account if isinstance(account, int) else account.pk for account in accounts}
    if not account_ids:
        return []
    # A guest's own account sees the session only once the PEV proved itself (bound as a guest): a declined
    # plug-in elsewhere may be someone else using the VIN, and must not show them the host's address.
    bindings = _panel_bindings().filter(
        open_sessions(now),
        Q(premise__account_id__in=account_ids)
        | Q(kind=Binding.Kind.GUEST, enrollment__account_id__in=account_ids),
    )
    panels = []
    for binding in bindings:
        audiences = [account for account in _audiences(binding) if account in account_ids]
        # A user linked to both the host's and the guest's account sees the owner's panel (published last).
        panels.append(panel_for(binding, audiences[-1], now=now))
    return panels


def panel_for(binding: Binding, account_id: int, *, now: dt.datetime) -> dict:
    """The panel of one session as `account_id` may see it (JSON-serialisable; the WebSocket event's)."""
    state = binding.effective_state(now)
    active = not session_over(binding, now) and state not in OVER_STATES
    enrollment = binding.enrollment
    owner = enrollment is not None and enrollment.account_id == account_id
    # The reverse one-to-one raises AttributeError's subclass when the binding has no report yet.
    status = getattr(binding, "pev_status", None)
    zone = binding.premise.default_tariff.zone
    code = _status_code(binding, state, active, account_id, owner)
    return {
        "binding_id": str(binding.pk),
        "active": active,
        "vehicle": _vehicle(binding.pev, owner),
        "vin_last6": binding.vin[-6:] if owner else None,
        "premise_address": binding.premise.service_address,
        "binding_state": state,
        "binding_state_label": str(Binding.State(state).label),
        "status": code,
        "status_text": str(STATUS_TEXT[code]),
        "charging_state": status.charging_state if status else None,
        "charging_state_label": str(CHARGING_STATE_TEXT[status.charging_state if status else None]),
        "state_of_charge": float(status.state_of_charge) if status else None,
        "power_kw": round(status.power_w / 1000, 3) if status else None,
        "session_energy_kwh": round(status.session_energy_wh / 1000, 3) if status else None,
        "time_to_complete_s": status.time_to_complete_s if status else None,
        "period_label": status.period_label if status else "",
        "price_per_kwh": str(status.price_per_kwh) if status and status.price_per_kwh is not None else None,
        "cost_so_far": _cost(status) if status and _payer(binding) == account_id else None,
        "currency": "USD",
        "plugged_in_at": binding.plugged_in_at.astimezone(zone).isoformat(),
        "updated_at": status.reported_at.astimezone(zone).isoformat() if status else None,
        "time_zone": binding.premise.default_tariff.time_zone,
    }


def publish(*binding_ids) -> None:
    """Send these bindings' panels to their accounts' groups once the transaction commits (Req 17, 24)."""
    ids = [str(binding_id) for binding_id in binding_ids]
    # robust: should building the panels fail (the database gone after the commit), the request that
    # committed still gets its answer; the failure is logged.
    transaction.on_commit(lambda: send_panels(ids), robust=True)


def publish_status(binding: Binding, *, now: dt.datetime) -> None:
    """`publish(binding.pk)` for a binding already loaded with PANEL_RELATIONS and its new `pev_status`
    (binding/charging.py holds it locked): the panels are built from it after the commit, without a query."""
    _publish_loaded(binding, now)


def publish_created(binding: Binding, *, now: dt.datetime) -> None:
    """`publish(binding.pk)` for a binding just created, with PANEL_RELATIONS in hand (binding/handshake.py
    has them from the device and the plug-in's facts): built without a query, as the evening peak needs. A
    new binding has no status report yet."""
    # Cached as absent, as select_related leaves a missing reverse one-to-one; reading it raises
    # RelatedObjectDoesNotExist instead of querying.
    Binding.pev_status.related.set_cached_value(binding, None)
    _publish_loaded(binding, now)


def _publish_loaded(binding: Binding, now: dt.datetime) -> None:
    def send() -> None:
        if time.monotonic() >= _layer_down_until:
            _send_events(_events(binding, now))

    transaction.on_commit(send, robust=True)


def send_panels(binding_ids: list[str], *, now: dt.datetime | None = None) -> int:
    """Build these bindings' panels and send them to their accounts' groups; returns how many events were
    sent (or, for an async caller, handed to its loop). Never raises: a channel layer that is down or slow
    (a sync send waits at most the layer's publish_timeout, SEND_TIMEOUT_SECONDS an async one) is logged,
    then skipped for LAYER_RETRY_AFTER seconds (the next report, or a page load, brings the panels up to
    date)."""
    if time.monotonic() < _layer_down_until:
        return 0
    now = now or timezone.now()
    return _send_events(
        [event for binding in _panel_bindings().filter(pk__in=binding_ids) for event in _events(binding, now)]
    )


def user_account_ids(user) -> list[int]:
    """The accounts a signed-in customer has linked: the groups their sockets join."""
    return list(UtilityAccount.objects.for_user(user).values_list("pk", flat=True))


def bearer_grant(raw_token: str) -> tuple[list[int], dt.datetime] | None:
    """(account ids, expiry) of a valid access token with the `live:read` scope, else None. A revoked
    token is deleted by django-oauth-toolkit, so it is simply not found; tokens are looked up by their
    SHA-256 (stored hashed, RFC 9700)."""
    from oauth2_provider.models import get_access_token_model

    checksum = hashlib.sha256(raw_token.encode()).hexdigest()
    token = get_access_token_model().objects.select_related("user").filter(token_checksum=checksum).first()
    if token is None or token.user is None or not token.user.is_active or not token.is_valid([LIVE_SCOPE]):
        return None
    return user_account_ids(token.user), token.expires


def bearer_still_valid(raw_token: str) -> bool:
    """The token still exists (not revoked), has not expired and keeps its scope."""
    return bearer_grant(raw_token) is not None


# --- The dashboard ---------------------------------------------------------------------------------

LATEST_BINDING_FIELDS = ("state", "kind", "plugged_in_at", "deadline", "bound_at", "unplugged_at")


def with_latest_binding(enrollments: QuerySet) -> QuerySet:
    """Enrollments annotated with their PEV's latest binding (`latest_binding_<field>`), in the same query."""
    latest = Binding.objects.filter(enrollment=OuterRef("pk")).order_by("-plugged_in_at")
    return enrollments.annotate(
        **{f"latest_binding_{field}": Subquery(latest.values(field)[:1]) for field in LATEST_BINDING_FIELDS}
    )


def latest_session_text(enrollment, *, now: dt.datetime) -> str:
    """What the enrollment's latest binding says in words, with its plug-in time in premise-local time; the
    enrollment comes from `with_latest_binding` with its premise's tariff loaded."""
    if enrollment.latest_binding_state is None:
        return gettext("No charging session yet")
    binding = Binding(**{f: getattr(enrollment, f"latest_binding_{f}") for f in LATEST_BINDING_FIELDS})
    when = date_format(
        binding.plugged_in_at.astimezone(enrollment.premise.default_tariff.zone), "DATETIME_FORMAT"
    )
    state = binding.effective_state(now)
    if session_over(binding, now) or state in OVER_STATES:
        if binding.bound_at is not None:
            return gettext("Last session, plugged in %(when)s: charged on the EV plan") % {"when": when}
        return gettext("Last session, plugged in %(when)s: charged at the standard rate") % {"when": when}
    code = "connecting" if state in Binding.HANDSHAKE_STATES else "standard_rate"
    if state == Binding.State.BOUND:
        code = "charging_on_plan"
    return gettext("%(status)s (plugged in %(when)s)") % {"status": STATUS_TEXT[code], "when": when}


def display(panel: dict) -> dict:
    """A panel's values as the page shows them, in the active language; static/js/live.js formats the
    socket's panels the same way."""
    dash = "—"

    def number(value, places: int, unit: str) -> str:
        return dash if value is None else f"{number_format(value, places)} {unit}"

    price = panel["price_per_kwh"]
    # The ISO text carries the premise's offset: formatted as it is, in premise-local time.
    updated = panel["updated_at"] and dt.datetime.fromisoformat(panel["updated_at"])
    return {
        "state_of_charge": number(panel["state_of_charge"], 1, "%"),
        "power_kw": number(panel["power_kw"], 1, "kW"),
        "session_energy_kwh": number(panel["session_energy_kwh"], 2, "kWh"),
        "time_to_complete": duration(panel["time_to_complete_s"]),
        "price": dash
        if price is None
        else gettext("%(period)s: $%(price)s per kWh")
        % {"period": panel["period_label"] or gettext("Price now"), "price": _price_text(price)},
        "cost_so_far": dash if panel["cost_so_far"] is None else f"${panel['cost_so_far']}",
        "updated_at": date_format(updated, "TIME_FORMAT") if updated else dash,
    }


def duration(seconds: int | None) -> str:
    """`1 h 20 min`, `20 min`, or a dash when unknown."""
    if seconds is None:
        return "—"
    minutes = -(-seconds // 60)
    if minutes < 60:
        return gettext("%(minutes)d min") % {"minutes": minutes}
    return gettext("%(hours)d h %(minutes)d min") % {"hours": minutes // 60, "minutes": minutes % 60}


def client_labels() -> dict:
    """The words static/js/live.js needs, in the active language (the page embeds them as JSON)."""
    return {
        "status": {code: str(text) for code, text in STATUS_TEXT.items()},
        "charging": {str(code or ""): str(text) for code, text in CHARGING_STATE_TEXT.items()},
        "minutes": gettext("%(minutes)d min"),
        "hoursMinutes": gettext("%(hours)d h %(minutes)d min"),
        "price": gettext("%(period)s: $%(price)s per kWh"),
        "priceNow": gettext("Price now"),
        "connected": gettext("Live: updates appear as the charger reports them."),
        "reconnecting": gettext("Live updates paused; reconnecting…"),
        "signedOut": gettext("Live updates stopped. Reload the page to sign in again."),
        "added": gettext("%(vehicle)s: %(status)s"),
        "removed": gettext("%(vehicle)s was unplugged."),
    }


def _price_text(price: str) -> str:
    """$/kWh with at least two decimals and no trailing zeros beyond: 0.25, 0.33527."""
    value = Decimal(price).normalize()
    return str(value.quantize(CENT) if -value.as_tuple().exponent < 2 else value)


# --- Building panels ----------------------------------------------------------------------------------


def _panel_bindings():
    return Binding.objects.select_related(*PANEL_RELATIONS, "pev_status").order_by("-plugged_in_at")


def _audiences(binding: Binding) -> list[int]:
    """Who sees the session, host first: the premise's account and, for a guest, the guest's own."""
    accounts = [binding.premise.account_id]
    guest = binding.enrollment if binding.kind == Binding.Kind.GUEST else None
    if guest is not None and guest.account_id not in accounts:
        accounts.append(guest.account_id)
    return accounts


def _vehicle(pev, owner: bool) -> str:
    described = " ".join(str(part) for part in (pev.year, pev.make, pev.model) if part) if pev else ""
    if described:
        return described
    return str(_("Your vehicle") if owner else _("A vehicle"))


def _payer(binding: Binding) -> int:
    """The account billed for the session's energy: the billed enrollment's once bound, else the premise's."""
    if binding.bound_at is not None and binding.billed_enrollment is not None:
        return binding.billed_enrollment.account_id
    return binding.premise.account_id


def _status_code(binding: Binding, state: str, active: bool, account_id: int, owner: bool) -> str:
    if not active:
        return "unplugged"
    if state in Binding.HANDSHAKE_STATES:
        return "connecting"
    guest = binding.kind == Binding.Kind.GUEST
    if state == Binding.State.BOUND:
        paying = _payer(binding) == account_id
        if not guest or (owner and binding.premise.account_id == account_id):
            return "charging_on_plan"
        if owner:
            return "guest_on_own_plan" if paying else "guest_host_pays"
        return "guest_on_your_plan" if paying else "guest_billed_to_owner"
    if owner:
        return "standard_rate"
    return "guest_at_standard_rate" if binding.enrollment is not None else "not_enrolled"


def _cost(status: PevStatus) -> str:
    """Dollars to the cent, rounded once, half up (docs/billing.md, "Money")."""
    return str(status.cost_so_far.quantize(CENT, rounding=ROUND_HALF_UP))


# --- Sending ------------------------------------------------------------------------------------------


def _events(binding: Binding, now: dt.datetime) -> list[tuple[str, dict]]:
    return [
        (group_name(account_id), {"type": EVENT_TYPE, "panel": panel_for(binding, account_id, now=now)})
        for account_id in _audiences(binding)
    ]


def _send_events(events: list[tuple[str, dict]]) -> int:
    """Send the events through the channel layer; how many were sent, or handed to a running loop."""
    if not events:
        return 0
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    # Taken here: the layer of this moment's settings.
    layer = get_channel_layer()
    if running is not None:
        # Called on a running event loop (async code): send without blocking it.
        if len(_in_flight) >= MAX_SENDS_IN_FLIGHT:
            log.warning("live.publish_dropped", events=len(events), in_flight=len(_in_flight))
            return 0
        task = running.create_task(_send_all(layer, events))
        _in_flight.add(task)  # a loop keeps only a weak reference to a task
        task.add_done_callback(_in_flight.discard)
        return len(events)
    if isinstance(layer, PubSubChannelLayer):
        # A sync view, task or command, with Redis: one PUBLISH per event on this thread (bounded by the
        # layer's publish_timeout), the cheapest way from a request thread (pevportal/channel_layers.py).
        return _send_blocking(layer, events)
    # The in-memory layer (the embedded default's one process, tests) keeps asyncio queues bound to the loop
    # of this process's consumers: async_to_sync sends on that loop.
    async_to_sync(_send_all)(layer, events)
    return len(events)


def _send_blocking(layer: PubSubChannelLayer, events: list[tuple[str, dict]]) -> int:
    sent = 0
    try:
        for group, event in events:
            layer.group_send_blocking(group, event)
            sent += 1
    except (RedisError, OSError) as exc:  # Redis down or slow: the device request goes on regardless
        _layer_down(exc)
    return sent


async def _send_all(layer, events: list[tuple[str, dict]]) -> None:
    try:
        async with asyncio.timeout(SEND_TIMEOUT_SECONDS):
            for group, event in events:
                await layer.group_send(group, event)
    except Exception as exc:  # Redis down or slow, a full channel: the device request goes on regardless
        _layer_down(exc)


def _layer_down(exc: BaseException) -> None:
    global _layer_down_until
    _layer_down_until = time.monotonic() + LAYER_RETRY_AFTER
    log.warning("live.publish_failed", error=repr(exc), retry_in_seconds=LAYER_RETRY_AFTER)
