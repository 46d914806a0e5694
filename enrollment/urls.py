from django.urls import include, path

from enrollment.views import public

urlpatterns = [
    path("", public.ProgramListView.as_view(), name="home"),
    path("programs/", public.ProgramListView.as_view(), name="program-list"),
    path("programs/compare/", public.compare_plans, name="plan-compare"),
    path("programs/<slug:code>/", public.ProgramDetailView.as_view(), name="program-detail"),
    path("my/", include("enrollment.customer_urls")),
    path("csr/", include("enrollment.csr_urls")),
]
