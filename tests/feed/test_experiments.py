"""A viewer in a running experiment is served their variant's ranking, and
everything they do carries the experiment and variant (the web side; the
builds for each arm are tested with the feeds workers)."""

import pytest
from django.utils import timezone

from feed.models import Engagement, FeedRequest
from ranking.experiments.assignment import running_experiment
from ranking.experiments.lifecycle import VariantSpec, experiment_create, experiment_start, experiment_stop
from ranking.models import Experiment
from ranking.store import RankedFeed, RankedItem, building_marked, ranked_feed_store
from tests.factories import UserFactory, follow, tweet

pytestmark = pytest.mark.django_db


@pytest.fixture
def experiment():
    """An A/B test: 40 % of users on the chronological feed, 40 % on the
    active model, 20 % outside."""
    draft = experiment_create(
        name="ranker-test", variants=[VariantSpec("control", "latest", 40), VariantSpec("treatment", "active", 40)]
    )
    return experiment_start(experiment=draft)


def user_in(variant: str | None):
    """A new user whose hash puts them in `variant` (None: outside the experiment)."""
    running = running_experiment()
    while True:
        user = UserFactory()
        assignment = running.assignment_for(user.pk)
        if (assignment.variant if assignment else None) == variant:
            return user


@pytest.fixture
def with_timeline():
    def make(user):
        author = UserFactory()
        follow(user, author)
        return [tweet(author, f"tweet {n}") for n in range(3)]

    return make


def test_a_latest_arm_is_served_the_chronological_feed_tagged_with_its_variant(experiment, api_for, with_timeline):
    client = api_for(user_in("control"))
    posted = with_timeline(client.user)

    body = client.get("/api/feed/?mode=ranked").json()

    assert (body["mode"], body["ranking"]) == ("latest", "off")
    assert (body["experiment"], body["variant"]) == ("ranker-test", "control")
    assert [item["id"] for item in body["results"]] == [t.pk for t in reversed(posted)]
    feed_request = FeedRequest.objects.get()
    assert (feed_request.experiment, feed_request.variant) == (experiment, "control")
    assert not building_marked(user_id=client.user.pk)  # nothing to build for it


def test_a_model_arm_is_served_only_a_list_built_for_it(experiment, api_for, with_timeline):
    client = api_for(user_in("treatment"))
    posted = with_timeline(client.user)
    items = [RankedItem(t.pk, float(n), ()) for n, t in enumerate(posted)]
    # The default feed's list, built before the experiment: not this arm's.
    ranked_feed_store(feed=RankedFeed(client.user.pk, "v1", timezone.now(), items))

    body = client.get("/api/feed/?mode=ranked").json()
    assert (body["mode"], body["ranking"], body["variant"]) == ("latest", "pending", "treatment")
    assert building_marked(user_id=client.user.pk)

    key = f"{experiment.pk}:treatment"
    ranked_feed_store(feed=RankedFeed(client.user.pk, "v1", timezone.now(), items, arm=key))
    body = client.get("/api/feed/?mode=ranked").json()
    assert (body["mode"], body["ranking"], body["model_version"]) == ("ranked", "ranked", "v1")
    assert (body["experiment"], body["variant"]) == ("ranker-test", "treatment")
    assert [item["id"] for item in body["results"]] == [t.pk for t in posted]


def test_a_user_outside_the_variants_gets_the_default_feed(experiment, api_for, with_timeline):
    client = api_for(user_in(None))
    posted = with_timeline(client.user)
    ranked_feed_store(feed=RankedFeed(client.user.pk, "v1", timezone.now(), [RankedItem(posted[0].pk, 1.0, ())]))

    body = client.get("/api/feed/?mode=ranked").json()

    assert (body["ranking"], body["experiment"], body["variant"]) == ("ranked", None, None)
    assert FeedRequest.objects.get().experiment is None


def test_every_event_of_an_assigned_user_carries_the_experiment_and_variant(experiment, api_for, with_timeline):
    client = api_for(user_in("control"))
    posted = with_timeline(client.user)
    feed_request = client.get("/api/feed/?mode=latest").json()["feed_request"]
    events = [
        {"tweet": posted[-1].pk, "kind": "impression", "feed_request": feed_request, "position": 0},
        {"tweet": posted[0].pk, "kind": "click"},  # from no feed request: the user's variant now
    ]

    assert client.post("/api/engagements/", {"events": events}, format="json").status_code == 201
    # An action from a feed request, and one from no feed (a profile, a permalink).
    client.post(f"/api/tweets/{posted[-1].pk}/like/", {"feed_request": feed_request, "position": 0}, format="json")
    client.post(f"/api/tweets/{posted[0].pk}/retweet/", format="json")

    tags = set(Engagement.objects.values_list("kind", "experiment", "variant"))
    assert tags == {(kind, experiment.pk, "control") for kind in ("impression", "click", "like", "retweet")}


def test_a_scroll_keeps_its_variant_after_the_experiment_stops(experiment, api_for):
    client = api_for(user_in("control"))
    author = UserFactory()
    follow(client.user, author)
    for n in range(25):
        tweet(author, f"tweet {n}")
    first = client.get("/api/feed/?mode=ranked").json()

    experiment_stop(experiment=experiment)

    second = client.get(first["next"]).json()
    assert (second["feed_request"], second["experiment"], second["variant"]) == (
        first["feed_request"],
        "ranker-test",
        "control",
    )
    # A new load is out of it.
    third = client.get("/api/feed/?mode=ranked").json()
    assert (third["experiment"], third["variant"]) == (None, None)


def test_interleaving_serves_everyone_the_interleaved_list(api_for, with_timeline):
    draft = experiment_create(
        name="pruning",
        design=Experiment.Design.INTERLEAVE,
        variants=[VariantSpec("latest", "latest", 100), VariantSpec("active", "active", 100)],
    )
    experiment = experiment_start(experiment=draft)
    client = api_for()
    posted = with_timeline(client.user)
    items = [RankedItem(t.pk, None, (), team) for t, team in zip(posted, ["active", "latest", "active"], strict=True)]
    ranked_feed_store(
        feed=RankedFeed(client.user.pk, "latest+v1", timezone.now(), items, arm=f"{experiment.pk}:interleaved")
    )

    body = client.get("/api/feed/?mode=ranked").json()

    assert (body["ranking"], body["experiment"], body["variant"]) == ("ranked", "pruning", "interleaved")
    teams = dict(FeedRequest.objects.get().served.values_list("tweet_id", "team"))
    assert teams == {posted[0].pk: "active", posted[1].pk: "latest", posted[2].pk: "active"}
