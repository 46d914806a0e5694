"""The read-only customer API, mounted at /api/v1/ (scopes in brackets)."""

from django.urls import path

from pevportal.displays.api import views

urlpatterns = [
    path("live", views.LiveView.as_view(), name="api-live"),  # live:read
    path("usage", views.UsageView.as_view(), name="api-usage"),  # usage:read
    path("bills", views.BillListView.as_view(), name="api-bill-list"),  # bills:read
    path("bills/<int:pk>", views.BillDetailView.as_view(), name="api-bill-detail"),  # bills:read
]
