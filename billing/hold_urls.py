"""CSR screens of held bills, mounted at /csr/billing/holds/; every view requires the CSR role."""

from django.urls import path

from billing.views import holds

urlpatterns = [
    path("", holds.HoldQueueView.as_view(), name="csr-billing-holds"),
    path("<int:pk>/release/", holds.ReleaseHoldView.as_view(), name="csr-billing-hold-release"),
    path("bills/<int:pk>/", holds.BillView.as_view(), name="csr-billing-bill"),
    path("bills/<int:pk>/adjustments/", holds.AddAdjustmentView.as_view(), name="csr-billing-adjustment-add"),
]
