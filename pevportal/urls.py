from allauth.account.decorators import secure_admin_login
from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from binding.api.jwks import jwks
from pevportal.views import healthz

# Swagger UI (served from the local sidecar package) sets styles from script; no other page may.
_API_BROWSER_CSP = csp_update({"style-src": ["'unsafe-inline'"]})

# Staff sign in to the admin through allauth, with its rate limits and MFA.
admin.site.login = secure_admin_login(admin.site.login)

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path(".well-known/jwks.json", jwks, name="jwks"),
    path("accounts/", include("allauth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),  # set_language: the language switcher
    path("admin/", admin.site.urls),
    path("api/v1/", include("enrollment.api.urls")),
    # Displays and energy managers (pevportal/displays/, docs/displays.md): the OAuth2 device grant, the
    # customer's /device and /my/devices/ pages and the read-only API.
    path("o/", include(("pevportal.displays.oauth_urls", "oauth2_provider"))),
    path("api/v1/", include("pevportal.displays.api.urls")),
    path("", include("pevportal.displays.urls")),
    path("device/v1/", include("binding.api.urls")),
    path("device/v1/", include("metering.api.urls")),
    path("csr/metering/", include("metering.csr_urls")),
    path("csr/billing/", include("billing.csr_urls")),
    path("csr/billing/holds/", include("billing.hold_urls")),
    path("csr/", include("binding.csr_urls")),
    path("ops/", include("pevportal.ops.urls")),  # the utility operations view (staff)
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "api/docs/",
        _API_BROWSER_CSP(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    path("", include("enrollment.urls")),
]
