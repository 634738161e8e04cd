from django.contrib import admin

from moderation.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only for everyone, superusers included: the trail is append-only."""

    list_display = ["occurred_at", "actor_name", "verb", "target_type", "target_repr", "merchant", "reason"]
    list_filter = ["verb", "target_type", "occurred_at"]
    search_fields = ["actor_name", "target_repr", "reason"]
    list_select_related = ["target_type", "merchant"]
    date_hierarchy = "occurred_at"
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
