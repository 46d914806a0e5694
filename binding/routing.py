"""WebSocket routes of the live charging panel (docs/live.md), mounted by pevportal/asgi.py.

The website's socket authenticates with the session cookie, so it checks the Origin against ALLOWED_HOSTS:
a page on another site cannot open it with the customer's cookie (cross-site WebSocket hijacking). The
display socket carries its own bearer token, which a browser never attaches by itself: no origin check.
"""

from channels.auth import AuthMiddlewareStack
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from .consumers import LiveApiConsumer, LiveConsumer

websocket_urlpatterns = [
    path("ws/live/", AllowedHostsOriginValidator(AuthMiddlewareStack(LiveConsumer.as_asgi()))),
    path("ws/api/v1/live", LiveApiConsumer.as_asgi()),
]
