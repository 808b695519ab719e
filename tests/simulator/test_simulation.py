from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from django.db import transaction

from feed.models import Engagement, FeedRequest, Hide, Report, Tweet
from ranking.experiments.lifecycle import ExperimentError, VariantSpec, experiment_create, experiment_start
from simulator.demo import demo_seed
from simulator.models import World, WorldTweet, WorldUser
from simulator.simulation import Simulation, simulate
from simulator.world import DWELL_SIGMA, Item, Truth, follow_graph_generate, people_generate
from users.models import Follow, User

pytestmark = pytest.mark.slow

START = datetime(2026, 3, 2, tzinfo=UTC)
SMALL = {"users": 80, "days": 2, "seed": 7, "start": START}


def event_counts() -> Counter:
    return Counter(Engagement.objects.values_list("kind", flat=True))


class Rollback(Exception):
    pass


@pytest.mark.django_db
def test_the_same_seed_gives_the_same_world_and_the_same_counts():
    with pytest.raises(Rollback), transaction.atomic():
        simulate(mode="latest", **SMALL)
        first = (event_counts(), Tweet.objects.count(), Follow.objects.count())
        raise Rollback
    # Ids differ on the second run (sequences are not rolled back): the world must not depend on them.
    simulate(mode="latest", **SMALL)

    assert (event_counts(), Tweet.objects.count(), Follow.objects.count()) == first
    assert first[0]["impression"] > 500


def dwell_draws(*, day: datetime) -> dict[tuple, float]:
    """Each dwell's standard normal draw on `day`, keyed by viewer and tweet as
    every life knows them (a tweet posted during a life has another row id in the next)."""
    simulation = Simulation(World.objects.get())
    draws = {}
    dwells = Engagement.objects.filter(
        kind="dwell", dwell_ms__gt=200, dwell_ms__lt=600_000, created_at__gte=day, created_at__lt=day + timedelta(1)
    )
    for event in dwells.select_related("tweet", "feed_request"):
        tweet, viewer, visit = event.tweet, simulation.index_of[event.user_id], event.feed_request.created_at
        item = simulation.item(tweet_id=tweet.pk, author_id=tweet.author_id, created_at=tweet.created_at, at=visit)
        mu = simulation.truth.probabilities(viewer, [item])["dwell_mu"][0]
        draws[(viewer, tweet.author_id, tweet.created_at)] = (np.log(event.dwell_ms) - mu) / DWELL_SIGMA
    return draws


@pytest.mark.django_db
def test_lives_of_the_same_day_throw_the_same_dice_when_the_same_person_meets_the_same_tweet():
    simulate(mode="latest", **SMALL)
    lives = []
    for mode in ("latest", "oracle"):
        with pytest.raises(Rollback), transaction.atomic():
            simulate(mode=mode, users=SMALL["users"], days=1, seed=SMALL["seed"])
            lives.append(dwell_draws(day=START + timedelta(days=SMALL["days"])))
            raise Rollback
    latest, oracle = lives

    common = latest.keys() & oracle.keys()
    assert 50 < len(common) < len(latest)  # the two feeds differ, and overlap
    # Common random numbers: one draw per meeting, whichever ranker led to it (up to the millisecond's rounding).
    assert all(abs(latest[key] - oracle[key]) < 0.01 for key in common)


@pytest.mark.django_db
def test_simulated_events_obey_the_product_rules():
    simulate(mode="latest", **SMALL)

    events = list(Engagement.objects.order_by("created_at", "pk"))
    impressions = {(e.user_id, e.created_at.date()) for e in events if e.kind == "impression"}
    hidden_at = {(h.user_id, h.tweet_id): h.created_at for h in Hide.objects.all()}
    hidden_at |= {(r.user_id, r.tweet_id): r.created_at for r in Report.objects.all()}

    # Every event's user was active (shown something) that day.
    assert all((e.user_id, e.created_at.date()) in impressions for e in events)
    # No event on a tweet after its viewer hid or reported it.
    assert not [e for e in events if e.created_at > hidden_at.get((e.user_id, e.tweet_id), e.created_at)]
    # Events land on originals, carry their feed request and position, and happen in simulated time.
    assert not [e for e in events if Tweet.objects.filter(pk=e.tweet_id, retweet_of__isnull=False).exists()][:1]
    served = [e for e in events if e.kind == "impression"]
    assert all(e.feed_request_id and e.position is not None for e in served)
    assert min(e.created_at for e in events) >= START
    assert World.objects.get().days == 2


@pytest.mark.django_db
def test_the_world_is_heavy_tailed_and_spammers_draw_most_reports_in_truth():
    people = people_generate(seed=3, n_users=1500)
    followers = Counter(followee for _, followee in follow_graph_generate(seed=3, people=people))
    counts = sorted(followers.values(), reverse=True)
    assert counts[0] > 10 * np.median(counts)  # a few accounts with very many followers

    truth = Truth(seed=3, people=people)
    spammers = [p.index for p in people if p.is_spammer]
    honest = [p.index for p in people if not p.is_spammer][: len(spammers) * 10]
    viewer = next(p.index for p in people if not p.is_spammer)
    topic = int(np.argmax(people[viewer].interests))
    spam = truth.probabilities(viewer, [Item(topic, a, 1.0) for a in spammers])
    fair = truth.probabilities(viewer, [Item(topic, a, 1.0) for a in honest])
    # Spammers are a tenth of these authors here, yet draw most of the expected reports.
    assert spam["report"].sum() > fair["report"].sum()
    assert spam["like"].mean() < fair["like"].mean() / 3


@pytest.mark.django_db
def test_oracle_serves_by_true_expected_utility_and_tags_its_requests():
    simulate(mode="oracle", **SMALL)

    requests = FeedRequest.objects.all()
    assert requests.exists()
    assert set(requests.values_list("mode", flat=True)) == {"oracle"}
    assert set(Engagement.objects.filter(kind="impression").values_list("model_version", flat=True)) == {"oracle"}

    simulation = Simulation(World.objects.get())
    viewer = next(i for i, user in enumerate(simulation.users) if Follow.objects.filter(follower=user).exists())
    at = simulation.day_start(simulation.world.days)
    shown = simulation.serve_oracle(viewer=viewer, depth=10, at=at)
    utility = simulation.truth.expected_utility(
        viewer,
        [
            simulation.item(tweet_id=s.tweet.pk, author_id=s.tweet.author_id, created_at=s.tweet.created_at, at=at)
            for s in shown
        ],
    )
    assert list(utility) == sorted(utility, reverse=True)


@pytest.mark.django_db
def test_the_hidden_truth_stays_apart_from_product_tables():
    simulate(mode="latest", users=30, days=1, seed=2, start=START)

    assert WorldUser.objects.count() == User.objects.count() == 30
    assert WorldTweet.objects.count() == Tweet.objects.filter(retweet_of__isnull=True).count()
    assert {f.name for f in User._meta.get_fields()}.isdisjoint({"interests", "quality", "is_spammer"})


@pytest.mark.django_db
def test_the_demo_is_seeded_once_with_a_working_login():
    assert demo_seed(users=40, days=1) is True
    users = User.objects.count()

    assert demo_seed(users=40, days=1) is False
    assert User.objects.count() == users
    demo = User.objects.get(username="demo")
    assert demo.check_password("demo-password") and demo.is_staff
    assert Follow.objects.filter(follower=demo).exists()


@pytest.mark.django_db
def test_an_experiment_arm_may_be_the_oracle_in_the_simulator():
    simulate(users=40, days=1, seed=5, mode="latest", start=START)
    draft = experiment_create(
        name="ceiling",
        variants=[VariantSpec("floor", "latest", 50), VariantSpec("ceiling", "oracle", 50)],
        extra_rankers=("oracle",),
    )
    experiment_start(experiment=draft, at=START + timedelta(days=1))

    simulate(users=40, days=1, seed=5, mode="ranked")

    served = set(FeedRequest.objects.filter(experiment__isnull=False).values_list("variant", "mode"))
    assert served == {("floor", "latest"), ("ceiling", "oracle")}
    assert Engagement.objects.filter(variant="ceiling", kind="impression").exists()
    with pytest.raises(ExperimentError, match="Unknown ranker 'oracle'"):
        experiment_create(name="web", variants=[VariantSpec("a", "latest", 50), VariantSpec("b", "oracle", 50)])
