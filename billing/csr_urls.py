"""CSR screens for billing runs, mounted at /csr/billing/; every view requires the CSR role."""

from django.urls import path

from billing.views import csr

urlpatterns = [
    path("runs/", csr.RunListView.as_view(), name="csr-billing-runs"),
    path("runs/<int:pk>/", csr.RunView.as_view(), name="csr-billing-run"),
    path("runs/<int:pk>/progress/", csr.RunProgressView.as_view(), name="csr-billing-run-progress"),
]
