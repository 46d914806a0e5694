"""WSGI entry point: gunicorn serves HTTP and the device API with it (docs/operations.md); WebSockets go to
the ASGI application."""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pevportal.settings")

application = get_wsgi_application()

# Everything loaded so far (Django, the apps, their modules) lives as long as the process: moved out of the
# collector's reach, the periodic full collections no longer walk it on every device request's allocations.
gc.freeze()
