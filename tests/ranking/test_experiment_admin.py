import re

import pytest
from django.urls import reverse

from ranking.experiments.lifecycle import VariantSpec, experiment_create, experiment_start, experiment_stop
from ranking.models import Experiment, ModelVersion, Variant
from ranking.registry import active_version, register
from ranking.spec import FEATURE_SPEC_VERSION
from tests.factories import SuperUserFactory, exposed

pytestmark = pytest.mark.django_db
ADD = reverse("admin:ranking_experiment_add")
CHANGELIST = reverse("admin:ranking_experiment_changelist")


@pytest.fixture
def staff(client):
    client.force_login(SuperUserFactory())
    return client


def model_version() -> ModelVersion:
    return register(artifact=b"x", metrics={}, feature_spec_version=FEATURE_SPEC_VERSION)


def form(name="feed-test", design="ab", salt="", variants=(("control", "latest", 50), ("treatment", "active", 50))):
    """The add form as a browser posts it: the experiment and its inline variants."""
    data = {
        "name": name,
        "description": "latest against the active model",
        "design": design,
        "salt": salt,
        "variants-TOTAL_FORMS": len(variants) + 1,  # and one blank extra row, as the admin shows
        "variants-INITIAL_FORMS": 0,
        "variants-MIN_NUM_FORMS": 0,
        "variants-MAX_NUM_FORMS": 1000,
    }
    for i, (variant, ranker, weight) in enumerate(variants):
        data |= {
            f"variants-{i}-order": i,
            f"variants-{i}-name": variant,
            f"variants-{i}-ranker": ranker,
            f"variants-{i}-weight": weight,
        }
    data[f"variants-{len(variants)}-order"] = 0
    return data


def act(client, action: str, *experiments: Experiment):
    return client.post(CHANGELIST, {"action": action, "_selected_action": [e.pk for e in experiments]}, follow=True)


def draft(name="feed-test", *variants: VariantSpec) -> Experiment:
    return experiment_create(
        name=name, variants=variants or [VariantSpec("control", "latest", 50), VariantSpec("treatment", "active", 50)]
    )


def test_the_changelist_shows_each_experiments_variants_in_a_constant_number_of_queries(
    staff, django_assert_max_num_queries
):
    for n in range(5):
        draft(f"e{n}")

    with django_assert_max_num_queries(8):
        page = staff.get(CHANGELIST).content.decode()

    assert page.count("control=latest:50, treatment=active:50") == 5


def test_the_admin_drafts_an_experiment_with_its_variants(staff):
    version = model_version()

    response = staff.post(ADD, form(variants=(("control", "latest", 30), ("challenger", version.name, 30))))

    assert response.status_code == 302
    experiment = Experiment.objects.get()
    assert (experiment.name, experiment.status, experiment.salt) == ("feed-test", "draft", "feed-test")
    assert experiment.description == "latest against the active model"
    assert [str(v) for v in experiment.variants.all()] == ["control=latest:30", f"challenger={version.name}:30"]


def test_a_salt_given_is_kept(staff):
    staff.post(ADD, form(salt="second-try"))

    assert Experiment.objects.get().salt == "second-try"


@pytest.mark.parametrize(
    ("design", "variants", "error"),
    [
        ("ab", (("control", "latest", 50), ("treatment", "v999", 50)), "Unknown ranker &#x27;v999&#x27;"),
        ("ab", (("control", "latest", 60), ("treatment", "active", 50)), "add up to more than 100 percent"),
        ("ab", (("control", "latest", 50),), "An A/B test needs at least two variants."),
        ("interleave", (("a", "active", 100), ("b", "active", 100)), "Interleaving takes two different rankers."),
        ("interleave", (("a", "latest", 100),), "Interleaving takes two different rankers."),
    ],
)
def test_an_experiment_the_lifecycle_would_refuse_is_refused_with_nothing_written(staff, design, variants, error):
    response = staff.post(ADD, form(design=design, variants=variants))

    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Experiment.objects.exists()
    assert not Variant.objects.exists()


def test_a_retired_version_is_refused(staff):
    retired = model_version()
    ModelVersion.objects.filter(pk=retired.pk).update(status=ModelVersion.Status.RETIRED)

    response = staff.post(ADD, form(variants=(("control", "latest", 50), ("old", retired.name, 50))))

    assert f"Model version {retired.name} is retired" in response.content.decode()
    assert not Experiment.objects.exists()


def test_start_and_stop_from_the_admin(staff):
    first, second = draft("first"), draft("second")

    assert "Started first." in act(staff, "start", first).content.decode()
    refused = act(staff, "start", second).content.decode()
    assert "Experiment first is running: stop it before starting another." in refused
    assert "Stopped first." in act(staff, "stop", first).content.decode()

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("stopped", "draft")
    assert "Experiment first is stopped, not running." in act(staff, "stop", first).content.decode()


def test_ship_activates_the_variant_with_the_highest_significant_lift(staff):
    modest, strong = model_version(), model_version()
    experiment = draft(
        "feed-test",
        VariantSpec("control", "latest", 30),
        VariantSpec("modest", modest.name, 30),
        VariantSpec("strong", strong.name, 30),
    )
    experiment_start(experiment=experiment)
    exposed(experiment, "control", users=30, liking=6)
    exposed(experiment, "modest", users=30, liking=18)
    exposed(experiment, "strong", users=30, liking=27)

    page = act(staff, "ship", experiment).content.decode()

    assert f"Shipped strong of feed-test: {strong.name} is active." in page
    assert active_version() == strong
    experiment.refresh_from_db()
    assert experiment.status == "stopped"


def test_ship_says_when_nothing_won(staff):
    version = model_version()
    experiment = draft("feed-test", VariantSpec("control", "latest", 50), VariantSpec("treatment", version.name, 50))
    experiment_start(experiment=experiment)
    exposed(experiment, "control", users=20, liking=10)
    exposed(experiment, "treatment", users=20, liking=10)

    page = act(staff, "ship", experiment).content.decode()

    assert "No variant of feed-test beat the baseline significantly: there is nothing to ship." in page
    assert active_version() is None
    experiment.refresh_from_db()
    assert experiment.status == "running"


def test_a_winning_chronological_feed_is_not_shipped(staff):
    experiment = draft("feed-test", VariantSpec("model", "active", 50), VariantSpec("chronological", "latest", 50))
    experiment_start(experiment=experiment)
    exposed(experiment, "model", users=30, liking=5)
    exposed(experiment, "chronological", users=30, liking=28)

    page = act(staff, "ship", experiment).content.decode()

    assert "The chronological feed has no model to ship" in page
    experiment.refresh_from_db()
    assert experiment.status == "running"


def test_ship_takes_one_experiment(staff):
    page = act(staff, "ship", draft("first"), draft("second")).content.decode()

    assert "Select exactly one experiment to ship." in page


def test_a_draft_is_edited_and_deleted_in_the_admin(staff):
    experiment = draft()
    change = reverse("admin:ranking_experiment_change", args=[experiment.pk])
    page = staff.get(change).content.decode()
    assert 'name="name"' in page and 'name="variants-0-ranker"' in page

    assert (
        staff.post(reverse("admin:ranking_experiment_delete", args=[experiment.pk]), {"post": "yes"}).status_code == 302
    )
    assert not Experiment.objects.exists()


@pytest.mark.parametrize("stopped", [False, True])
def test_once_started_an_experiment_is_read_only_and_kept(staff, stopped):
    experiment = draft()
    experiment_start(experiment=experiment)
    if stopped:
        experiment_stop(experiment=experiment)
    change = reverse("admin:ranking_experiment_change", args=[experiment.pk])

    page = staff.get(change).content.decode()
    assert "View experiment" in page
    assert set(re.findall(r'<input type="(\w+)" name=', page)) == {"hidden"}  # nothing to edit
    assert "control=latest:50" in page and "treatment=active:50" in page  # the variants, shown
    assert 'href="/ranking/experiments/feed-test/"' in page  # "View on site": its readout

    staff.post(change, form(name="renamed", variants=(("control", "latest", 10), ("treatment", "active", 10))))
    assert staff.get(reverse("admin:ranking_experiment_delete", args=[experiment.pk])).status_code == 403
    refused = staff.post(CHANGELIST, {"action": "delete_selected", "_selected_action": [experiment.pk], "post": "yes"})
    assert refused.status_code == 403

    experiment.refresh_from_db()
    assert experiment.name == "feed-test"
    assert [str(v) for v in experiment.variants.all()] == ["control=latest:50", "treatment=active:50"]
