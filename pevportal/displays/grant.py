"""The display's side of the device grant (RFC 8628 §3.1–3.5), on django-oauth-toolkit 3.4 + oauthlib 4.

Left as they are, they fail a display in four ways, each closed here: oauthlib 4 echoes the scope in the
device authorization response, which DOT's view cannot take (500); DOT's validator lacks oauthlib 4's
`validate_device_code` (every approved poll would fail); DOT's token view answers from the stored status,
which only turns `expired` when something calls `is_expired()` (a display would poll an expired code
forever); and one approved device code could be exchanged again and again — here the first token spends
it, like an authorization code (RFC 6749 §4.1.2).
"""

import json

from django import http
from django.db import transaction
from oauth2_provider.models import get_device_grant_model
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.views import DeviceAuthorizationView, TokenView
from oauthlib.oauth2.rfc8628.grant_types import DeviceCodeGrant

DEVICE_CODE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"


class DisplayOAuth2Validator(OAuth2Validator):
    """DOT's validator plus the device-code check oauthlib asks for (RFC 8628 §3.5)."""

    def validate_device_code(self, client_id, code, request, *args, **kwargs):
        """The grant's status; an approved grant puts its customer and scopes on the token request."""
        DeviceGrant = get_device_grant_model()
        grant = DeviceGrant.objects.filter(device_code=code, client_id=client_id).first()
        if grant is None:
            return None
        if grant.is_expired():
            return DeviceCodeGrant.DEVICE_CODE_EXPIRED
        if grant.status == DeviceGrant.DENIED:
            return DeviceCodeGrant.DEVICE_CODE_DENIED
        if grant.status != DeviceGrant.AUTHORIZED or grant.user is None:
            return DeviceCodeGrant.DEVICE_CODE_PENDING
        request.user = grant.user
        request.scopes = grant.scope.split()
        return DeviceCodeGrant.DEVICE_CODE_AUTHORIZED


class DisplayDeviceAuthorizationView(DeviceAuthorizationView):
    """`POST /o/device-authorization/`: DOT's, without oauthlib 4's scope echo (not part of RFC 8628 §3.2;
    DOT stores the same scope itself: the requested one, else DEFAULT_SCOPES)."""

    def create_device_authorization_response(self, request):
        headers, response, status = super().create_device_authorization_response(request)
        if status == 200:
            response.pop("scope", None)
        return headers, response, status


def _oauth_error(error: str, description: str, status: int = 400) -> http.JsonResponse:
    return http.JsonResponse({"error": error, "error_description": description}, status=status)


class DisplayTokenView(TokenView):
    """`POST /o/token/`: DOT's token endpoint, with device codes that expire and are spent once."""

    def post(self, request, *args, **kwargs):
        if request.POST.get("grant_type") == DEVICE_CODE_GRANT_TYPE and not request.POST.get("device_code"):
            return _oauth_error("invalid_request", "Missing device_code parameter.")
        return super().post(request, *args, **kwargs)

    def device_flow_token_response(self, request, device_code, *args, **kwargs):
        DeviceGrant = get_device_grant_model()
        with transaction.atomic():
            # Locked so that two polls racing in after the approval cannot both be given tokens.
            grant = DeviceGrant.objects.select_for_update().filter(device_code=device_code).first()
            if grant is None:
                return _oauth_error("invalid_grant", "Unknown device_code.")
            grant.is_expired()
            response = super().device_flow_token_response(request, device_code, *args, **kwargs)
            if response.status_code == 200:
                grant.status = DeviceGrant.EXPIRED
                grant.save(update_fields=["status"])
        if response.status_code >= 400 and not json.loads(response.content).get("error_description"):
            response = self._with_description(response)
        return response

    @staticmethod
    def _with_description(response: http.HttpResponse) -> http.HttpResponse:
        """oauthlib's RFC 8628 polling errors carry no description; say what the display should do."""
        body = json.loads(response.content)
        hints = {
            "authorization_pending": "The customer has not approved this display yet; keep polling.",
            "access_denied": "The customer refused access; stop polling.",
            "expired_token": "The code expired or was already used; request a new code.",
        }
        if body.get("error") in hints:
            body["error_description"] = hints[body["error"]]
        return http.JsonResponse(body, status=response.status_code)
