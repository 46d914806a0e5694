from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from pevportal.health import overall


@never_cache
@require_GET
def healthz(request):
    """Database, Redis and Celery state as JSON; 503 when the portal cannot serve."""
    healthy, report = overall()
    return JsonResponse(report, status=200 if healthy else 503)
