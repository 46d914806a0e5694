"""What a customer does with a display's access: claim the code it shows, approve or refuse it, see the
displays they approved and revoke one. Each change is atomic and audited.

A display's access is one refresh-token family of django-oauth-toolkit: every renewal replaces the refresh
token (rotation) and keeps the family, so the family's one live refresh token stands for the display.
"""

import datetime as dt
import uuid
from dataclasses import dataclass

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _
from oauth2_provider.models import (
    AbstractApplication,
    get_application_model,
    get_device_grant_model,
    get_refresh_token_model,
)
from oauth2_provider.scopes import get_scopes_backend
from oauth2_provider.settings import oauth2_settings

from pevportal import audit
from pevportal.models import Channel

# Wrong codes a customer may type before /device makes them wait (RFC 8628 §5.1: user codes are short, so
# guessing must be rate-limited); counted per customer for `WRONG_CODE_WINDOW`.
WRONG_CODE_LIMIT = 10
WRONG_CODE_WINDOW = dt.timedelta(minutes=15)


@dataclass(frozen=True)
class Scope:
    name: str
    description: str


def describe_scopes(scope: str) -> list[Scope]:
    """A token's or grant's scopes, with the plain-language description the customer approved."""
    descriptions = get_scopes_backend().get_all_scopes()
    return [Scope(name, str(descriptions.get(name, name))) for name in scope.split()]


def normalize_user_code(raw: str) -> str:
    """What a customer types, as stored: displays may show the code grouped ("ABCD-1234"), in any case."""
    return "".join(ch for ch in raw.upper() if ch.isalnum())


def _wrong_code_key(user) -> str:
    return f"displays:wrong-code:{user.pk}"


def claim_user_code(user, raw_code: str):
    """The pending device grant whose code the customer typed, now tied to them; else a ValidationError
    whose code says why (`unknown`, `expired`, `used`, `too_many`)."""
    key = _wrong_code_key(user)
    if cache.get(key, 0) >= WRONG_CODE_LIMIT:
        raise ValidationError(
            _("Too many wrong codes. Wait 15 minutes, then try again with the code your display shows now."),
            code="too_many",
        )
    DeviceGrant = get_device_grant_model()
    code = normalize_user_code(raw_code)
    with transaction.atomic():
        grant = (
            DeviceGrant.objects.select_for_update().filter(user_code=code).order_by("-expires").first()
            if code
            else None
        )
        if grant is None:
            cache.add(key, 0, timeout=int(WRONG_CODE_WINDOW.total_seconds()))
            cache.incr(key)
            raise ValidationError(
                _("We do not recognise that code. Check the code on your display and type it again."),
                code="unknown",
            )
        if grant.is_expired():  # also a code already spent on its token (pevportal/displays/grant.py)
            raise ValidationError(
                _("That code has expired. Ask your display for a new code and type that one."), code="expired"
            )
        # Another customer who typed the same code first keeps it; a display shows its code to one home.
        if grant.status != DeviceGrant.AUTHORIZATION_PENDING or grant.user_id not in (None, user.pk):
            raise ValidationError(
                _("That code has already been used. Ask your display for a new code."), code="used"
            )
        if grant.user_id is None:
            grant.user = user
            grant.save(update_fields=["user"])
    return grant


def pending_grant(user, pk: int):
    """A device grant this customer claimed and has not decided on yet, or None (expired included)."""
    DeviceGrant = get_device_grant_model()
    grant = DeviceGrant.objects.filter(pk=pk, user=user, status=DeviceGrant.AUTHORIZATION_PENDING).first()
    if grant is None or grant.is_expired():
        return None
    return grant


def application_for(grant):
    return get_application_model().objects.filter(client_id=grant.client_id).first()


def decide(user, pk: int, *, approve: bool):
    """Approve or refuse a claimed grant; the display's next poll gets its tokens or `access_denied`.
    Returns the grant, or None when it is no longer pending (expired, or decided in another tab)."""
    DeviceGrant = get_device_grant_model()
    with transaction.atomic():
        grant = (
            DeviceGrant.objects.select_for_update()
            .filter(pk=pk, user=user, status=DeviceGrant.AUTHORIZATION_PENDING)
            .first()
        )
        if grant is None or grant.is_expired():
            return None
        grant.status = DeviceGrant.AUTHORIZED if approve else DeviceGrant.DENIED
        grant.save(update_fields=["status"])
        application = application_for(grant)
        audit.record(
            action="display.approved" if approve else "display.refused",
            target=grant,
            channel=Channel.WEB,
            actor=user,
            after={"status": grant.status},
            context={"application": getattr(application, "name", grant.client_id), "scope": grant.scope},
        )
    return grant


def authorised_displays(user):
    """The displays a customer approved and has not revoked, newest first: each one's live refresh token
    with its application and access token, and `authorised_at` (when the family's first token was issued)."""
    RefreshToken = get_refresh_token_model()
    refresh_lifetime = dt.timedelta(seconds=oauth2_settings.REFRESH_TOKEN_EXPIRE_SECONDS)
    first_issued = (
        RefreshToken.objects.filter(token_family=OuterRef("token_family"))
        .order_by("created")
        .values("created")
    )
    return (
        RefreshToken.objects.filter(
            user=user,
            revoked__isnull=True,
            application__authorization_grant_type=AbstractApplication.GRANT_DEVICE_CODE,
            # A refresh token outlives its access token by the refresh lifetime, then it is dead.
            access_token__expires__gt=timezone.now() - refresh_lifetime,
        )
        .select_related("application", "access_token")
        .annotate(authorised_at=Subquery(first_issued[:1]))
        .order_by("-created")
    )


def revoke_display(user, token_family: uuid.UUID):
    """Revoke a display's access and refresh tokens at once and return its application; None when it is
    not this customer's or already revoked. The display's next API call is answered 401."""
    RefreshToken = get_refresh_token_model()
    with transaction.atomic():
        live = (
            RefreshToken.objects.select_for_update()
            .filter(user=user, token_family=token_family, revoked__isnull=True)
            .select_related("application")
            .first()
        )
        if live is None:
            return None
        RefreshToken.revoke_family(token_family)
        audit.record(
            action="display.revoked",
            target=live.application,
            channel=Channel.WEB,
            actor=user,
            context={"token_family": str(token_family)},
        )
    return live.application
