"""Read-only admin views of the registry. Changes go through the imports and the CSR screens, which
validate and audit them; the admin would bypass both."""

from django.contrib import admin

from enrollment.models import Customer, Enrollment, Pev, PevProgram, Premise, ServicePlan, UtilityAccount
from pevportal.admin import ReadOnlyAdmin


@admin.register(Customer)
class CustomerAdmin(ReadOnlyAdmin):
    list_display = ["cis_id", "name", "email", "phone"]
    search_fields = ["cis_id", "name", "email", "phone"]


@admin.register(UtilityAccount)
class UtilityAccountAdmin(ReadOnlyAdmin):
    list_display = ["number", "customer"]
    search_fields = ["number", "customer__name"]
    list_select_related = ["customer"]


@admin.register(Premise)
class PremiseAdmin(ReadOnlyAdmin):
    list_display = ["premise_id", "account", "service_address", "postal_code", "feeder_id", "default_tariff"]
    search_fields = ["premise_id", "account__number", "service_address", "meter_id"]
    list_filter = ["default_tariff"]
    list_select_related = ["account", "default_tariff"]


@admin.register(PevProgram)
class PevProgramAdmin(ReadOnlyAdmin):
    list_display = ["code", "name", "is_active"]


@admin.register(ServicePlan)
class ServicePlanAdmin(ReadOnlyAdmin):
    list_display = ["code", "name", "program", "tariff", "eumd_interval_seconds", "binding_timeout_seconds"]
    list_select_related = ["program", "tariff"]


@admin.register(Pev)
class PevAdmin(ReadOnlyAdmin):
    list_display = ["vin", "make", "model", "year"]
    search_fields = ["vin"]


@admin.register(Enrollment)
class EnrollmentAdmin(ReadOnlyAdmin):
    list_display = ["pev", "premise", "plan", "status", "channel", "effective_from"]
    list_filter = ["status", "channel", "plan"]
    search_fields = ["pev__vin", "premise__premise_id", "account__number"]
    list_select_related = ["pev", "premise", "plan"]
