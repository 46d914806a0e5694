"""Tariffs are read-mostly in the admin: they change only through import_tariff, which audits and versions
them (a hand edit would silently re-rate past bills)."""

from django.contrib import admin

from billing.models import (
    Credit,
    Holiday,
    HolidayCalendar,
    Period,
    Season,
    Tariff,
    TariffVersion,
    Tier,
    Utility,
)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class HolidayInline(ReadOnlyInline):
    model = Holiday


@admin.register(HolidayCalendar)
class HolidayCalendarAdmin(ReadOnlyAdmin):
    list_display = ("code", "name", "observed_rule", "first_year", "last_year")
    inlines = [HolidayInline]


@admin.register(Utility)
class UtilityAdmin(ReadOnlyAdmin):
    list_display = ("code", "name", "eia_id", "holiday_calendar")


class VersionInline(ReadOnlyInline):
    model = TariffVersion
    fields = ("effective_start", "effective_end", "urdb_label", "imported_at")
    show_change_link = True


@admin.register(Tariff)
class TariffAdmin(ReadOnlyAdmin):
    list_display = ("code", "name", "utility", "time_zone")
    list_filter = ("utility",)
    search_fields = ("code", "name")
    inlines = [VersionInline]


class SeasonInline(ReadOnlyInline):
    model = Season


class PeriodInline(ReadOnlyInline):
    model = Period
    show_change_link = True


class CreditInline(ReadOnlyInline):
    model = Credit


@admin.register(TariffVersion)
class TariffVersionAdmin(ReadOnlyAdmin):
    list_display = (
        "tariff",
        "effective_start",
        "effective_end",
        "holiday_calendar",
        "fixed_charge",
        "fixed_charge_unit",
    )
    list_filter = ("tariff",)
    list_select_related = ("tariff", "holiday_calendar")
    inlines = [SeasonInline, PeriodInline, CreditInline]


class TierInline(ReadOnlyInline):
    model = Tier
    fields = ("number", "rate", "adjustment", "max_kwh")


@admin.register(Period)
class PeriodAdmin(ReadOnlyAdmin):
    list_display = ("version", "index", "label", "kind")
    list_select_related = ("version__tariff",)
    inlines = [TierInline]
