"""Admin plumbing shared by the apps."""

from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """For rows the product writes through its services (logs, and what a
    service keeps a log of): only ever looked at here, since an edit would
    bypass the service."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
