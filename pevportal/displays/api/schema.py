"""The OpenAPI security scheme of the customer API: OAuth2 with the device authorization grant.

OpenAPI 3.0 (what drf-spectacular writes) has no device flow, so the flow is the extension
`x-deviceAuthorization`, with the fields of OpenAPI 3.2's `deviceAuthorization` flow.
"""

from drf_spectacular.contrib.django_oauth_toolkit import DjangoOAuthToolkitScheme
from oauth2_provider.scopes import get_scopes_backend


class DisplayOAuth2Scheme(DjangoOAuthToolkitScheme):
    priority = 1  # over drf-spectacular's own scheme for the same authentication class

    def get_security_definition(self, auto_schema):
        return {
            "type": "oauth2",
            "description": (
                "Displays and energy management systems: OAuth 2.0 device authorization grant (RFC 8628). "
                "The display asks /o/device-authorization/ for a code, the customer approves it at /device, "
                "and the display polls /o/token/ for a bearer token (docs/displays.md)."
            ),
            "flows": {
                "x-deviceAuthorization": {
                    "deviceAuthorizationUrl": "/o/device-authorization/",
                    "tokenUrl": "/o/token/",
                    "refreshUrl": "/o/token/",
                    "scopes": {
                        name: str(text) for name, text in get_scopes_backend().get_all_scopes().items()
                    },
                }
            },
        }
