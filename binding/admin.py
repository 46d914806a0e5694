"""Read-only admin views of devices and bindings. Changes go through register_device and the CSR screens
(binding.devices), which validate and audit them; the admin would bypass both. Nonces and idempotency
records are plumbing of the device API and are not shown."""

from django.contrib import admin

from binding.models import Binding, BindingEvent, Device, DeviceMessage, PevKey
from pevportal.admin import ReadOnlyAdmin


@admin.register(Device)
class DeviceAdmin(ReadOnlyAdmin):
    list_display = ["lfdi", "sfdi_display", "kind", "premise", "pev", "enabled", "registered_at", "not_after"]
    list_filter = ["kind", "enabled"]
    search_fields = ["lfdi", "premise__premise_id", "pev__vin"]
    list_select_related = ["premise", "pev"]


@admin.register(Binding)
class BindingAdmin(ReadOnlyAdmin):
    list_display = ["id", "vin", "premise", "kind", "state", "reason", "plugged_in_at"]
    list_filter = ["state", "kind", "reason"]
    search_fields = ["vin", "premise__premise_id", "esci__lfdi"]
    list_select_related = ["premise"]


@admin.register(BindingEvent)
class BindingEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "binding", "sender", "sender_id", "event"]
    list_filter = ["sender"]
    search_fields = ["binding__id", "sender_id", "event"]
    list_select_related = ["binding__premise"]


@admin.register(PevKey)
class PevKeyAdmin(ReadOnlyAdmin):
    list_display = ["pev", "thumbprint", "commissioned_at", "revoked_at"]
    search_fields = ["pev__vin", "thumbprint"]
    list_select_related = ["pev"]


@admin.register(DeviceMessage)
class DeviceMessageAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "esci", "recipient", "recipient_id", "deliveries", "acked_at"]
    list_filter = ["kind", "recipient"]
    search_fields = ["esci__lfdi", "recipient_id"]
    list_select_related = ["esci"]
