"""ASGI entry point (daphne in development, uvicorn in production). HTTP goes to Django; the Channels
router is where the live-charging WebSocket routes join, after the Django app is built so that their
consumers' models load after setup."""

import os

from channels.routing import ProtocolTypeRouter
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pevportal.settings")

django_asgi_app = get_asgi_application()

application = ProtocolTypeRouter({"http": django_asgi_app})
