import pytest
from django.db import IntegrityError, transaction

from ranking.models import ModelVersion
from ranking.registry import RegistryError, active_version, register, version_activate, version_rollback
from ranking.spec import FEATURE_SPEC_VERSION

Status = ModelVersion.Status
pytestmark = pytest.mark.django_db


def candidate(**kwargs) -> ModelVersion:
    return register(
        artifact=b"zipped savedmodel",
        metrics={"ndcg_at_10": 0.5},
        feature_spec_version=kwargs.pop("feature_spec_version", FEATURE_SPEC_VERSION),
        **kwargs,
    )


def statuses() -> dict[str, str]:
    return dict(ModelVersion.objects.values_list("name", "status"))


def test_register_stores_a_named_candidate():
    version = candidate(n_train=800, n_validation=200)
    version.refresh_from_db()
    assert version.name == f"v{version.pk}"
    assert version.status == Status.CANDIDATE
    assert bytes(version.artifact) == b"zipped savedmodel"
    assert (version.n_train, version.n_validation, version.metrics) == (800, 200, {"ndcg_at_10": 0.5})
    assert version.activated_at is None
    assert candidate(name="nightly-1").name == "nightly-1"
    assert active_version() is None


def test_register_refuses_a_version_without_its_model():
    with pytest.raises(RegistryError, match="artifact"):
        register(artifact=b"", metrics={}, feature_spec_version=FEATURE_SPEC_VERSION)
    assert not ModelVersion.objects.exists()


def test_activate_retires_the_previous_one_and_keeps_exactly_one_active():
    first, second = candidate(), candidate()
    version_activate(version=first)
    assert active_version() == first

    version_activate(version=second)

    assert statuses() == {first.name: Status.RETIRED, second.name: Status.ACTIVE}
    second.refresh_from_db()
    assert second.previous == first
    assert second.activated_at is not None
    assert active_version() == second
    # The artifact stays in the database until someone asks for it.
    assert "artifact" in active_version().get_deferred_fields()


def test_activating_the_active_version_changes_nothing():
    version = candidate()
    version_activate(version=version)
    activated_at = ModelVersion.objects.get().activated_at
    version_activate(version=version)
    assert ModelVersion.objects.get().activated_at == activated_at


def test_a_version_of_another_feature_spec_is_never_activated():
    active, stale = candidate(), candidate(feature_spec_version=FEATURE_SPEC_VERSION + 1)
    version_activate(version=active)
    with pytest.raises(RegistryError, match="feature spec"):
        version_activate(version=stale)
    assert statuses() == {active.name: Status.ACTIVE, stale.name: Status.CANDIDATE}


def test_rollback_walks_back_through_what_was_served():
    v1, v2, v3, never = candidate(), candidate(), candidate(), candidate()
    for version in (v1, v2, v3):
        version_activate(version=version)

    assert version_rollback() == v2
    assert statuses() == {v1.name: "retired", v2.name: "active", v3.name: "retired", never.name: "candidate"}
    # Again: one step further back, not back to v3.
    assert version_rollback() == v1
    assert statuses()[v1.name] == Status.ACTIVE
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        version_rollback()
    assert active_version() == v1


def test_rollback_without_an_active_version_is_refused():
    candidate()
    with pytest.raises(RegistryError, match="No model version is active"):
        version_rollback()


def test_the_database_holds_at_most_one_active_version():
    first, second = candidate(), candidate()
    version_activate(version=first)
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(pk=second.pk).update(status=Status.ACTIVE)
