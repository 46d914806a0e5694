"""`GET /.well-known/jwks.json`: the utility's public signing key, for devices to verify what it sends."""

from django.http import JsonResponse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from binding import jws


@require_GET
@cache_control(public=True, max_age=3600)
def jwks(request):
    return JsonResponse(jws.jwks())
