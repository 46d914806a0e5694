"""Customer displays and energy management systems (scenario 4; Req 17, 24): the OAuth2 device
authorization grant (RFC 8628) through django-oauth-toolkit, the customer's /device and /my/devices/ pages,
and the read-only API under /api/v1/ (docs/displays.md)."""
