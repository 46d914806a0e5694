"""The metering part of the signed device API, mounted at /device/v1/ (docs/device-api.md)."""

from django.urls import path

from .views import ReadingsView

urlpatterns = [
    path("readings", ReadingsView.as_view(), name="device-readings"),
]
