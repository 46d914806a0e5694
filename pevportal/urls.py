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
    path("admin/", admin.site.urls),
    path("api/v1/", include("enrollment.api.urls")),
    path("device/v1/", include("binding.api.urls")),
    path("device/v1/", include("metering.api.urls")),
    path("csr/metering/", include("metering.csr_urls")),
    path("csr/billing/", include("billing.csr_urls")),
    path("csr/billing/holds/", include("billing.hold_urls")),
    path("csr/", include("binding.csr_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "api/docs/",
        _API_BROWSER_CSP(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    path("", include("enrollment.urls")),
]
