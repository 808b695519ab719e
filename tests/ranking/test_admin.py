import pytest
from django.urls import reverse

from ranking.models import ModelVersion
from ranking.registry import active_version, register, version_activate
from ranking.spec import FEATURE_SPEC_VERSION
from tests.factories import SuperUserFactory

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:ranking_modelversion_changelist")
METRICS = {"heads": {"like": {"roc_auc": 0.71234}, "reply": {"roc_auc": 0.65}}, "ndcg_at_10": 0.5432}


@pytest.fixture
def staff(client):
    client.force_login(SuperUserFactory())
    return client


def version(feature_spec_version: int = FEATURE_SPEC_VERSION) -> ModelVersion:
    return register(artifact=b"\x00" * 2_500_000, metrics=METRICS, feature_spec_version=feature_spec_version)


def act(client, action: str, *versions: ModelVersion):
    return client.post(CHANGELIST, {"action": action, "_selected_action": [v.pk for v in versions]}, follow=True)


def test_the_registry_lists_versions_with_their_key_metrics(staff, django_assert_max_num_queries):
    for _ in range(3):
        version()
    register(artifact=b"x", metrics={}, feature_spec_version=FEATURE_SPEC_VERSION)  # nothing measured
    with django_assert_max_num_queries(8):
        page = staff.get(CHANGELIST)
    body = page.content.decode()
    assert page.status_code == 200
    assert "0.712" in body and "0.650" in body and "0.543" in body  # like AUC, reply AUC, NDCG@10
    assert "2.5" in body  # artifact MB


def test_the_artifact_is_neither_shown_nor_editable(staff):
    page = staff.get(reverse("admin:ranking_modelversion_change", args=[version().pk]))
    assert page.status_code == 200
    assert 'name="artifact"' not in page.content.decode()
    assert "ndcg_at_10" in page.content.decode()  # the metrics, pretty-printed
    assert staff.get(reverse("admin:ranking_modelversion_add")).status_code == 403


def test_activate_and_roll_back_from_the_admin(staff):
    first, second = version(), version()
    act(staff, "activate", first)
    page = act(staff, "activate", second)
    assert f"Activated {second.name}." in page.content.decode()
    assert active_version() == second

    page = act(staff, "roll_back", second)

    assert f"{first.name} is active again" in page.content.decode()
    assert active_version() == first


def test_admin_actions_explain_what_they_cannot_do(staff):
    first, second = version(), version(feature_spec_version=FEATURE_SPEC_VERSION + 1)
    assert "exactly one" in act(staff, "activate", first, second).content.decode()
    assert "nothing to roll back" in act(staff, "roll_back", first).content.decode()
    version_activate(version=first)
    assert "feature spec" in act(staff, "activate", second).content.decode()
    assert active_version() == first
