from django.db import models
from django.db.models import Q
from django.utils import timezone


class ModelVersion(models.Model):
    """One trained ranking model: its artifact, how it did on its validation
    slice, and its place in the registry. Exactly one version is active at a
    time (a partial unique constraint holds the database to it)."""

    class Status(models.TextChoices):
        CANDIDATE = "candidate"  # trained and evaluated, never served
        ACTIVE = "active"  # the one the feed workers score with
        RETIRED = "retired"  # was active, replaced since

    name = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CANDIDATE)
    metrics = models.JSONField(default=dict, blank=True, help_text="validation metrics (ranking.training.evaluation)")
    feature_spec_version = models.PositiveIntegerField()
    window_start = models.DateTimeField(null=True, blank=True, help_text="first impression trained or validated on")
    window_end = models.DateTimeField(null=True, blank=True, help_text="last impression trained or validated on")
    n_train = models.PositiveIntegerField(default=0)
    n_validation = models.PositiveIntegerField(default=0)
    # In the database, not on a disk: every worker on any machine loads the
    # active model from where it learns which one is active.
    artifact = models.BinaryField(help_text="the zipped SavedModel (ranking.training.export)")
    activated_at = models.DateTimeField(null=True, blank=True)
    previous = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="the version that was active when this one was activated: what a rollback restores",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["status"], condition=Q(status="active"), name="model_version_one_active"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"
