"""Read-only admin views of the audit trail and import runs: records of what happened are never edited."""

from django.contrib import admin

from pevportal.models import AuditRecord, ImportRun


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditRecord)
class AuditRecordAdmin(ReadOnlyAdmin):
    list_display = ["at", "action", "target_type", "target_id", "channel", "actor", "actor_label"]
    list_filter = ["channel", "action", "target_type"]
    search_fields = ["target_id", "actor_label", "actor__email"]
    date_hierarchy = "at"
    list_select_related = ["target_type", "actor"]


@admin.register(ImportRun)
class ImportRunAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "kind", "filename", "rows_total", "rows_created", "rows_rejected"]
    list_filter = ["kind"]
