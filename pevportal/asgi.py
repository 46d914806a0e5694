"""ASGI entry point: HTTP through Django, WebSockets through Channels.

The Django application is built before anything imports consumers, so their models load after setup.
"""

import os

from channels.routing import ProtocolTypeRouter
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pevportal.settings")

django_asgi_app = get_asgi_application()

application = ProtocolTypeRouter({"http": django_asgi_app})
