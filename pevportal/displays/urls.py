"""The customer's pages for displays: /device (RFC 8628 verification URI) and /my/devices/."""

from django.urls import path

from pevportal.displays import views

urlpatterns = [
    path("device", views.enter_code, name="device"),
    path("device/<int:pk>/", views.confirm, name="device-confirm"),
    path("my/devices/", views.my_devices, name="my-devices"),
    path("my/devices/<uuid:family>/revoke/", views.revoke, name="my-device-revoke"),
]
