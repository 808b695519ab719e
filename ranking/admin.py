import json

from django.contrib import admin, messages
from django.db.models.functions import Length
from django.utils.html import format_html

from ranking import registry
from ranking.models import ModelVersion


def _metric(version: ModelVersion, *path: str):
    value = version.metrics
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _rounded(value) -> str:
    return "-" if value is None else f"{value:.3f}"


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    """The model registry: versions with their validation metrics; activate
    one, or roll back to the one served before. Versions come from training
    only, and are kept as the record of what was served."""

    list_display = [
        "name",
        "status",
        "like_auc",
        "reply_auc",
        "ndcg_at_10",
        "n_train",
        "n_validation",
        "artifact_mb",
        "created_at",
        "activated_at",
    ]
    list_filter = ["status", "created_at"]
    search_fields = ["name"]
    ordering = ["-created_at", "-id"]
    actions = ["activate", "roll_back"]
    # Every field but the multi-megabyte artifact, read-only.
    fields = [
        "name",
        "status",
        "created_at",
        "activated_at",
        "previous",
        "feature_spec_version",
        "window_start",
        "window_end",
        "n_train",
        "n_validation",
        "metrics_json",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).defer("artifact").annotate(artifact_bytes=Length("artifact"))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="like AUC")
    def like_auc(self, version):
        return _rounded(_metric(version, "heads", "like", "roc_auc"))

    @admin.display(description="reply AUC")
    def reply_auc(self, version):
        return _rounded(_metric(version, "heads", "reply", "roc_auc"))

    @admin.display(description="NDCG@10")
    def ndcg_at_10(self, version):
        return _rounded(_metric(version, "ndcg_at_10"))

    @admin.display(description="artifact MB", ordering="artifact_bytes")
    def artifact_mb(self, version):
        return f"{version.artifact_bytes / 1e6:.1f}"

    @admin.display(description="metrics")
    def metrics_json(self, version):
        return format_html("<pre>{}</pre>", json.dumps(version.metrics, indent=2))

    @admin.action(description="Activate the selected version")
    def activate(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to activate.", messages.ERROR)
            return
        version = queryset.get()
        try:
            registry.version_activate(version=version)
        except registry.RegistryError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(request, f"Activated {version.name}.", messages.SUCCESS)

    @admin.action(description="Roll back to the previously active version")
    def roll_back(self, request, queryset):
        try:
            restored = registry.version_rollback()
        except registry.RegistryError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(request, f"Rolled back: {restored.name} is active again.", messages.SUCCESS)
