from django.contrib import admin

from voiceapp.models import Membership, Tenant
from voiceapp.tenancy import TenantAdminMixin, owned_tenant_ids


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Tenant)
class TenantAdmin(TenantAdminMixin, admin.ModelAdmin):
    list_display = ["name", "slug", "time_zone", "active", "created_at"]
    list_filter = ["active"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["created_at", "updated_at"]

    def get_inlines(self, request, obj):
        return [MembershipInline] if request.user.is_superuser else []

    # Tenants are created and removed by the platform's superusers; staff only see theirs.
    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    # A tenant's owners set its own policies (how long recordings are kept); the rest of the
    # tenant is the platform's.
    owner_fields = ["recording_retention_days"]

    def has_change_permission(self, request, obj=None):
        if request.user.is_superuser:
            return True
        owned = owned_tenant_ids(request.user) or []
        return obj.pk in owned if obj is not None else bool(owned)

    def get_readonly_fields(self, request, obj=None):
        if request.user.is_superuser:
            return self.readonly_fields
        platform = [
            f.name for f in Tenant._meta.fields if f.editable and f.name not in self.owner_fields
        ]
        return [*platform, *self.readonly_fields]

    def get_prepopulated_fields(self, request, obj=None):
        return self.prepopulated_fields if request.user.is_superuser else {}


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["role", "tenant"]
    search_fields = ["user__username", "user__email", "tenant__name"]
    autocomplete_fields = ["user", "tenant"]

    def has_module_permission(self, request):
        return request.user.is_superuser

    has_view_permission = has_add_permission = has_change_permission = has_delete_permission = (
        lambda self, request, obj=None: request.user.is_superuser
    )
