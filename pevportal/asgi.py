"""ASGI entry point (daphne in development, uvicorn in production). HTTP goes to Django; the Channels
router is where the live-charging WebSocket routes join, after the Django app is built so that their
consumers' models load after setup."""

import os

from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pevportal.settings")

django_asgi_app = get_asgi_application()

# --- WebSockets: the live charging panel (binding/routing.py; docs/live.md) ---------------------------
from binding.routing import websocket_urlpatterns  # noqa: E402 — needs the app built above

application = ProtocolTypeRouter({"http": django_asgi_app, "websocket": URLRouter(websocket_urlpatterns)})
