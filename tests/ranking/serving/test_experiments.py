"""Feed builds for experiments' variants (issue 13), in the feeds worker's
code: each arm ranked by the model version it names and stored for its arm,
interleaved lists drafted from two rankers, and the chronological fallback
when a variant's model cannot serve. The last test runs a real Celery worker
process on the real broker, Redis and PostgreSQL."""

import time

import pytest
from celery import current_app
from prometheus_client import REGISTRY

from feed import services
from ranking import registry
from ranking.experiments.assignment import assignment_for
from ranking.experiments.lifecycle import VariantSpec, experiment_create, experiment_start
from ranking.models import Experiment, ModelVersion
from ranking.serving import scorer
from ranking.serving.pipeline import feed_build
from ranking.spec import FEATURE_SPEC_VERSION
from ranking.store import OWN_TWEET_REASON, ranked_features_get, ranked_feed_get, ranking_unavailable
from tests.conftest import wait_for
from tests.factories import UserFactory, follow, tweet

pytestmark = pytest.mark.django_db


@pytest.fixture
def versions(db, model_artifact):
    """Two registered model versions, neither active, of today's features."""

    def make(n=2):
        return [
            registry.register(artifact=model_artifact, metrics={}, feature_spec_version=FEATURE_SPEC_VERSION)
            for _ in range(n)
        ]

    return make


def experiment_running(*variants: str, design=Experiment.Design.AB) -> Experiment:
    """Started from specs such as "treatment=v3:50"."""
    experiment = experiment_create(
        name=f"exp-{Experiment.objects.count()}", variants=[VariantSpec.parse(v) for v in variants], design=design
    )
    return experiment_start(experiment=experiment)


def user_in(variant: str, *, tweets: int = 4):
    """A user the running experiment puts in `variant`, following two people
    who posted `tweets` tweets between them."""
    for _ in range(100):
        user = UserFactory()
        assignment = assignment_for(user_id=user.pk)
        if assignment is not None and assignment.variant == variant:
            alice, bob = UserFactory.create_batch(2)
            follow(user, alice, bob)
            for n in range(tweets):
                tweet((alice, bob)[n % 2], f"tweet {n} about python")
            time.sleep(0.002)  # a build sees what was posted before its millisecond
            return user
    raise AssertionError(f"no user in {variant} among 100")


def fallbacks(experiment: Experiment, variant: str) -> float:
    labels = {"experiment": experiment.name, "variant": variant}
    return REGISTRY.get_sample_value("ranked_feed_experiment_fallbacks_total", labels) or 0


def load_failures(version: str) -> float:
    return REGISTRY.get_sample_value("ranked_feed_model_load_failures_total", {"version": version}) or 0


def test_each_ab_arm_is_ranked_by_the_model_it_names_and_stored_for_its_arm(active_model, versions):
    (challenger,) = versions(1)
    experiment_running("control=active:50", f"treatment={challenger.name}:50")

    for variant, version in [("control", active_model), ("treatment", challenger)]:
        user = user_in(variant)
        feed = feed_build(user_id=user.pk)

        stored = ranked_feed_get(user_id=user.pk)
        assert (stored.model_version, stored.arm) == (version.name, assignment_for(user_id=user.pk).key)
        assert [i.tweet_id for i in stored.items] == [i.tweet_id for i in feed.items] and len(feed.items) == 4
        scores = [item.score for item in stored.items]
        assert scores == sorted(scores, reverse=True) and {item.team for item in stored.items} == {""}


def test_a_chronological_arm_builds_nothing(active_model, versions):
    (challenger,) = versions(1)
    experiment = experiment_running("control=latest:50", f"treatment={challenger.name}:50")
    user = user_in("control")

    assert feed_build(user_id=user.pk) is None
    assert ranked_feed_get(user_id=user.pk) is None
    assert ranking_unavailable("latest") is None and fallbacks(experiment, "control") == 0


@pytest.mark.parametrize("breakage", ["deleted", "retired", "corrupt"])
def test_a_variant_whose_model_cannot_serve_falls_back_to_the_chronological_feed(
    active_model, versions, model_artifact, breakage, caplog
):
    if breakage == "corrupt":
        challenger = registry.register(
            artifact=model_artifact[: len(model_artifact) // 2], metrics={}, feature_spec_version=FEATURE_SPEC_VERSION
        )
    else:
        (challenger,) = versions(1)
    experiment = experiment_running("control=active:50", f"treatment={challenger.name}:50")
    user = user_in("treatment")
    if breakage == "deleted":
        ModelVersion.objects.filter(pk=challenger.pk).delete()
    elif breakage == "retired":
        ModelVersion.objects.filter(pk=challenger.pk).update(status=ModelVersion.Status.RETIRED)
    failed_loads, fell_back = load_failures(challenger.name), fallbacks(experiment, "treatment")

    assert feed_build(user_id=user.pk) is None

    assert ranked_feed_get(user_id=user.pk) is None  # never ranked by the active model instead
    assert ranking_unavailable(challenger.name)
    assert ranking_unavailable("active") is None  # the control arm and the default feed still rank
    assert fallbacks(experiment, "treatment") == fell_back + 1
    assert load_failures(challenger.name) == failed_loads + 1
    assert f"Experiment {experiment.name}, variant treatment: ranker {challenger.name} cannot serve" in caplog.text
    # Not tried again for a while: counted as a fallback, not as another failed load.
    assert feed_build(user_id=user.pk) is None
    assert (fallbacks(experiment, "treatment"), load_failures(challenger.name)) == (fell_back + 2, failed_loads + 1)
    control = user_in("control")
    assert feed_build(user_id=control.pk).model_version == active_model.name


def test_named_versions_stay_loaded_until_more_recent_ones_push_them_out(active_model, versions, settings):
    settings.RANKING_MODEL_CACHE_SIZE = 2
    first, second, third = versions(3)

    loaded = scorer.model_for(first.name)
    assert (loaded.name, loaded.version_id) == (first.name, first.pk)
    assert scorer.model_for(first.name) is loaded
    assert scorer.model_for("active") is scorer.active_model()
    assert scorer.model_for(active_model.name) is scorer.active_model()  # not loaded twice
    scorer.model_for(second.name)
    scorer.model_for(first.name)  # used last: the second is the least recently used now
    scorer.model_for(third.name)

    assert scorer.model_for(first.name) is loaded
    assert set(scorer._named) == {first.pk, third.pk}


def interleaved_feed(rankers: tuple[str, str]):
    experiment = experiment_running(
        f"chrono={rankers[0]}:50", f"learned={rankers[1]}:50", design=Experiment.Design.INTERLEAVE
    )
    viewer, alice, bob, carol = UserFactory.create_batch(4)
    follow(viewer, alice, bob)
    for n in range(8):
        tweet((alice, bob)[n % 2], f"tweet {n} about python")
    liked = tweet(carol, "liked by two followees")  # out of network: only the model's candidates have it
    for fan in (alice, bob):
        services.like_create(user=fan, tweet=liked)
    own = tweet(viewer, "my own news")
    time.sleep(0.002)  # a build sees what was posted before its millisecond
    assert feed_build(user_id=viewer.pk) is not None
    return experiment, ranked_feed_get(user_id=viewer.pk), own, liked


def test_an_interleaved_list_credits_each_item_to_the_team_that_picked_it(active_model):
    experiment, stored, own, liked = interleaved_feed(("latest", "active"))

    assert (stored.model_version, stored.arm) == (f"latest+{active_model.name}", f"{experiment.pk}:interleaved")
    assert stored.items[0].tweet_id == own.pk and stored.items[0].reasons == (OWN_TWEET_REASON,)
    assert stored.items[0].team == "" and stored.items[0].score is None
    drafted = stored.items[1:]
    assert len({i.tweet_id for i in drafted}) == len(drafted) == 9  # the eight tweets and the liked one, once each
    assert liked.pk in {i.tweet_id for i in drafted}
    teams = [item.team for item in drafted]
    assert {"chrono", "learned"} <= set(teams)
    for n in range(1, len(teams) + 1):
        credited = teams[:n]
        assert abs(credited.count("chrono") - credited.count("learned")) <= 1 or "" in credited
    for item in drafted:
        if item.team == "chrono":
            assert item.score is None  # the timeline's order has no score
        elif item.team == "learned":
            assert item.score is not None
    drafted_ids = [i.tweet_id for i in drafted]
    rows = ranked_features_get(user_id=stored.user_id, built_at=stored.built_at, tweet_ids=drafted_ids)
    assert set(rows) == set(drafted_ids)  # every item here is a candidate the models scored


def test_two_models_interleave_with_their_own_scores(active_model, versions):
    (challenger,) = versions(1)
    _, feed, _, _ = interleaved_feed((active_model.name, challenger.name))

    assert feed.model_version == f"{active_model.name}+{challenger.name}"
    assert {i.team for i in feed.items[1:]} == {"chrono", "learned"}
    assert all(i.score is not None for i in feed.items[1:])


def test_an_interleaved_list_is_not_built_when_a_team_cannot_serve(active_model, versions):
    (challenger,) = versions(1)
    experiment = experiment_running("chrono=latest:50", f"learned={challenger.name}:50", design="interleave")
    ModelVersion.objects.filter(pk=challenger.pk).update(status=ModelVersion.Status.RETIRED)
    viewer = user_in("interleaved")
    fell_back = fallbacks(experiment, "interleaved")

    assert feed_build(user_id=viewer.pk) is None
    assert ranked_feed_get(user_id=viewer.pk) is None
    assert ranking_unavailable(challenger.name) and fallbacks(experiment, "interleaved") == fell_back + 1


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_arms_are_served_by_two_model_versions_in_one_real_celery_worker(celery_worker_process, versions):
    first, second = versions(2)
    experiment_running(f"a={first.name}:50", f"b={second.name}:50")
    users = {"a": user_in("a"), "b": user_in("b")}

    for user in users.values():
        current_app.send_task("ranking.tasks.build_feed", args=[user.pk])

    for variant, version in [("a", first), ("b", second)]:
        stored = wait_for(lambda user=users[variant]: ranked_feed_get(user_id=user.pk), timeout_s=60)
        assert stored.model_version == version.name
        assert stored.arm == assignment_for(user_id=users[variant].pk).key
        assert len(stored.items) == 4
