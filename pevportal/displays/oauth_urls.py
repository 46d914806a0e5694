"""The OAuth2 endpoints displays call, mounted at /o/ in DOT's `oauth2_provider` namespace.

Only the device grant's: no authorization-code or implicit endpoints, and no application-management pages
(display clients are registered by staff with `register_display_client`).
"""

from django.urls import path
from oauth2_provider import views as oauth2_views

from pevportal.displays.grant import DisplayDeviceAuthorizationView, DisplayTokenView

urlpatterns = [
    path(
        "device-authorization/",
        DisplayDeviceAuthorizationView.as_view(),
        name="device-authorization",
    ),
    path("token/", DisplayTokenView.as_view(), name="token"),
    path("revoke_token/", oauth2_views.RevokeTokenView.as_view(), name="revoke-token"),
]
