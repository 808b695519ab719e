import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models.functions import Length
from django.urls import reverse
from django.utils.html import format_html

from ranking import registry
from ranking.experiments import lifecycle
from ranking.models import Experiment, ModelVersion, Variant


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


class VariantFormSet(forms.BaseInlineFormSet):
    """The variants, checked together with their experiment's design by the
    lifecycle's own rules, so an experiment the command would refuse is
    refused here too, before anything is written."""

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        kept = [form for form in self.forms if form.cleaned_data and not form.cleaned_data.get("DELETE")]
        kept.sort(key=lambda form: form.cleaned_data["order"])  # stable: ties keep the rows' order
        specs = [
            lifecycle.VariantSpec(form.cleaned_data["name"], form.cleaned_data["ranker"], form.cleaned_data["weight"])
            for form in kept
        ]
        try:
            lifecycle.variants_check(design=self.instance.design, variants=specs)
        except lifecycle.ExperimentError as exc:
            raise ValidationError(str(exc)) from exc


class VariantInline(admin.TabularInline):
    model = Variant
    formset = VariantFormSet
    fields = ["order", "name", "ranker", "weight"]
    extra = 2

    def has_add_permission(self, request, obj=None):
        return (obj is None or obj.status == Experiment.Status.DRAFT) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return (obj is None or obj.status == Experiment.Status.DRAFT) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return (obj is None or obj.status == Experiment.Status.DRAFT) and super().has_delete_permission(request, obj)


class ExperimentForm(forms.ModelForm):
    class Meta:
        model = Experiment
        fields = ["name", "description", "design", "salt"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "salt" in self.fields:  # not on a started experiment's read-only page
            self.fields["salt"].required = False
            self.fields["salt"].help_text += "; blank: the experiment's name"

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("salt") and cleaned.get("name"):
            cleaned["salt"] = cleaned["name"]
        return cleaned


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    """Experiments: drafted here (or with experiment_start), then started,
    stopped and shipped with the actions. Once started an experiment is the
    record its feed requests and events point at: read-only, never deleted."""

    form = ExperimentForm
    inlines = [VariantInline]
    list_display = ["name", "design", "status", "variants_shown", "started_at", "stopped_at"]
    list_filter = ["status", "design"]
    search_fields = ["name", "description"]
    readonly_fields = ["status", "created_at", "started_at", "stopped_at"]
    actions = ["start", "stop", "ship"]

    def get_fields(self, request, obj=None):
        return ["name", "description", "design", "salt", *self.readonly_fields]

    def view_on_site(self, experiment):
        return reverse("experiment", args=[experiment.name])  # its readout

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("variants")

    def has_change_permission(self, request, obj=None):
        return (obj is None or obj.status == Experiment.Status.DRAFT) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return (obj is None or obj.status == Experiment.Status.DRAFT) and super().has_delete_permission(request, obj)

    @admin.display(description="variants")
    def variants_shown(self, experiment):
        return ", ".join(str(variant) for variant in experiment.variants.all())

    def _each(self, request, queryset, act, done: str) -> None:
        for experiment in queryset:
            try:
                act(experiment=experiment)
            except lifecycle.ExperimentError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(request, done.format(name=experiment.name), messages.SUCCESS)

    @admin.action(description="Start the selected draft", permissions=["change"])
    def start(self, request, queryset):
        self._each(request, queryset, lifecycle.experiment_start, "Started {name}.")

    @admin.action(description="Stop the selected experiments", permissions=["change"])
    def stop(self, request, queryset):
        self._each(request, queryset, lifecycle.experiment_stop, "Stopped {name}.")

    @admin.action(description="Ship the winning variant of the selected experiment", permissions=["change"])
    def ship(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one experiment to ship.", messages.ERROR)
            return
        experiment = queryset.get()
        # Imported here, as the staff page imports the readout: numpy and
        # scipy cost a web process ~70 MB that feed reads never need.
        from ranking.experiments.winner import experiment_ship_winner

        try:
            variant, version = experiment_ship_winner(experiment=experiment)
        except lifecycle.ExperimentError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(
            request, f"Shipped {variant.name} of {experiment.name}: {version.name} is active.", messages.SUCCESS
        )
