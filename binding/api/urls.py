"""The signed device API, mounted at /device/v1/ (docs/device-api.md)."""

from django.urls import path

from . import views
from .status import PevStatusView
from .time import DeviceTimeView

urlpatterns = [
    path("time", DeviceTimeView.as_view(), name="device-time"),
    path("bindings", views.BindingCreateView.as_view(), name="device-bindings"),
    path("bindings/<uuid:binding_id>", views.BindingDetailView.as_view(), name="device-binding"),
    path("bindings/<uuid:binding_id>/pev-ack", views.PevAckView.as_view(), name="device-binding-pev-ack"),
    path("bindings/<uuid:binding_id>/eumd-ack", views.EumdAckView.as_view(), name="device-binding-eumd-ack"),
    path("bindings/<uuid:binding_id>/end", views.BindingEndView.as_view(), name="device-binding-end"),
    path("pev-status", PevStatusView.as_view(), name="device-pev-status"),
    path("messages", views.MessageListView.as_view(), name="device-messages"),
    path("messages/<uuid:message_id>/ack", views.MessageAckView.as_view(), name="device-message-ack"),
]
