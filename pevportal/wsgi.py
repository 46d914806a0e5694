"""WSGI entry point, for management tooling that wants one; the portal itself is served over ASGI."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pevportal.settings")

application = get_wsgi_application()
