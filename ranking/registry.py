"""The model registry: trained versions, which one is active, promotion and
rollback. Plain database work, no TensorFlow: the admin (web process) calls
it too.

Exactly one version is active at a time: activation retires the previous
one in the same transaction, and a partial unique constraint holds the
database to it. Each activation remembers the version it replaced, so a
rollback walks back through what was actually served, one step at a time.
"""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from ranking.models import ModelVersion
from ranking.spec import FEATURE_SPEC_VERSION
from ranking.store import ranking_unavailable_clear

Status = ModelVersion.Status


class RegistryError(Exception):
    pass


def active_version() -> ModelVersion | None:
    """The version feeds are scored with now, or None (chronological feeds).
    The artifact is left unloaded until asked for."""
    return ModelVersion.objects.defer("artifact").filter(status=Status.ACTIVE).first()


def active_model_state() -> tuple[str, dict] | None:
    """(name, per-head validation metrics) of the active version, or None:
    what the health and metrics endpoints report."""
    row = ModelVersion.objects.filter(status=Status.ACTIVE).values_list("name", "metrics").first()
    if row is None:
        return None
    name, metrics = row
    return name, (metrics or {}).get("heads") or {}


def register(
    *,
    artifact: bytes,
    metrics: dict,
    feature_spec_version: int,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
    n_train: int = 0,
    n_validation: int = 0,
    name: str | None = None,
) -> ModelVersion:
    """Store a trained model as a candidate. Without `name` it is called
    "v<id>": unique and increasing without a counter to race on."""
    if not artifact:
        raise RegistryError("A model version needs its artifact.")
    with transaction.atomic():
        version = ModelVersion.objects.create(
            name=name or f"pending-{timezone.now().timestamp()}",
            artifact=artifact,
            metrics=metrics,
            feature_spec_version=feature_spec_version,
            window_start=window_start,
            window_end=window_end,
            n_train=n_train,
            n_validation=n_validation,
        )
        if not name:
            version.name = f"v{version.pk}"
            version.save(update_fields=["name"])
    return version


def _lock_registry() -> None:
    # Every row, in one order: two activations at once queue up here instead
    # of both retiring the same version and one failing on the constraint.
    # The registry holds one row per training run, so this stays cheap.
    list(ModelVersion.objects.select_for_update().order_by("pk").values_list("pk", flat=True))


def _activate(version: ModelVersion, *, previous: ModelVersion | None, remember_previous: bool) -> None:
    # A model trained on other features than the ones served now would
    # score garbage (or fail and leave every feed chronological).
    if version.feature_spec_version != FEATURE_SPEC_VERSION:
        raise RegistryError(
            f"{version.name} was trained on feature spec {version.feature_spec_version}; "
            f"the features served now are spec {FEATURE_SPEC_VERSION}."
        )
    now = timezone.now()
    if previous is not None:
        ModelVersion.objects.filter(pk=previous.pk).update(status=Status.RETIRED)
    fields = {"status": Status.ACTIVE, "activated_at": now}
    if remember_previous:
        fields["previous"] = previous
    ModelVersion.objects.filter(pk=version.pk).update(**fields)
    for name, value in fields.items():
        setattr(version, name, value)
    # Reads stop saying "off" for want of a model, and ask for builds with it.
    transaction.on_commit(ranking_unavailable_clear)


def version_activate(*, version: ModelVersion) -> ModelVersion:
    """Make `version` the active one and retire the one it replaces (which a
    later rollback restores). Activating the active version changes nothing;
    a version trained on another feature spec is refused (RegistryError)."""
    with transaction.atomic():
        _lock_registry()
        current = active_version()
        if current is not None and current.pk == version.pk:
            return version
        _activate(version, previous=current, remember_previous=True)
    return version


def version_rollback() -> ModelVersion:
    """Re-activate the version that was active before the current one and
    retire the current one. Repeated, it keeps walking back. Raises
    RegistryError when there is no active version or nothing before it."""
    with transaction.atomic():
        _lock_registry()
        current = active_version()
        if current is None:
            raise RegistryError("No model version is active: there is nothing to roll back.")
        target = ModelVersion.objects.defer("artifact").filter(pk=current.previous_id).first()
        if target is None:
            raise RegistryError(f"{current.name} replaced no other version: there is nothing to roll back to.")
        # The target keeps its own `previous`: rolling back again goes one
        # step further back instead of bouncing between two versions.
        _activate(target, previous=current, remember_previous=False)
    return target
