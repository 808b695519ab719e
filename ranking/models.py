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


class Experiment(models.Model):
    """An online experiment on the home feed: users split by a salted hash of
    their id between variants, each served by its own ranker (an A/B test),
    or everyone in it served one list interleaved from two rankers. At most
    one runs at a time (a partial unique constraint holds the database to it).
    Kept once started: its feed requests and events point at it."""

    class Status(models.TextChoices):
        DRAFT = "draft"
        RUNNING = "running"
        STOPPED = "stopped"

    class Design(models.TextChoices):
        AB = "ab", "A/B test"
        INTERLEAVE = "interleave", "Team-draft interleaving"

    name = models.SlugField(max_length=64, unique=True)
    description = models.TextField(blank=True)
    design = models.CharField(max_length=16, choices=Design.choices, default=Design.AB)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    salt = models.CharField(max_length=64, help_text="hashed with each user id: a new salt, a new split")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["status"], condition=Q(status="running"), name="experiment_one_running"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"


class Variant(models.Model):
    """One arm of an experiment: the share of users it takes (percent of all
    users; the arms may cover less than 100) and the ranker that orders their
    feed: "latest" (the chronological feed), "active" (whatever model version
    is active when their feed is built), or a model version by name. In an
    interleaving experiment the two variants are the two rankers, in order:
    the second is the challenger."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="variants")
    name = models.SlugField(max_length=32)
    ranker = models.CharField(max_length=64)
    weight = models.PositiveSmallIntegerField(help_text="percent of users")
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["experiment", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["experiment", "name"], name="variant_name_once"),
            models.CheckConstraint(condition=Q(weight__gte=1, weight__lte=100), name="variant_weight_percent"),
        ]

    def __str__(self) -> str:
        return f"{self.name}={self.ranker}:{self.weight}"
