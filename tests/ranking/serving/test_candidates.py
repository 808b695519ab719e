from datetime import timedelta

import pytest
from django.utils import timezone

from feed import services
from feed.models import Engagement
from ranking.serving.candidates import IN_NETWORK_MAX_AGE, Source, candidates_for
from tests.factories import UserFactory, follow, tweet

pytestmark = pytest.mark.django_db


def ids(candidate_set):
    return [c.tweet_id for c in candidate_set.candidates]


def test_in_network_candidates_exclude_what_the_viewer_must_never_see():
    viewer, alice, bob, stranger = UserFactory.create_batch(4)
    follow(viewer, alice, bob)
    kept = tweet(alice, "kept")
    hidden, reported, deleted = tweet(alice, "hidden"), tweet(bob, "reported"), tweet(bob, "deleted")
    services.hide_create(user=viewer, tweet=hidden)
    services.report_create(user=viewer, tweet=reported, reason="spam")
    services.tweet_delete(tweet=deleted, by=bob)
    tweet(viewer, "my own")
    tweet(stranger, "not followed")
    old = tweet(alice, "too old", at=timezone.now() - IN_NETWORK_MAX_AGE - timedelta(hours=1))

    found = candidates_for(viewer_id=viewer.pk, at=timezone.now())

    assert ids(found) == [kept.pk]
    assert old.pk not in ids(found)
    assert found.followee_ids == {alice.pk, bob.pk}


def test_a_tweet_and_its_retweets_are_one_candidate_remembering_its_source():
    viewer, alice, bob, carol = UserFactory.create_batch(4)
    follow(viewer, bob, carol)
    original = tweet(alice, "worth a retweet")
    services.retweet_create(user=bob, tweet=original)
    services.retweet_create(user=carol, tweet=original)
    hidden_original = tweet(alice, "hidden, retweeted")
    services.retweet_create(user=bob, tweet=hidden_original)
    services.hide_create(user=viewer, tweet=hidden_original)

    found = candidates_for(viewer_id=viewer.pk, at=timezone.now())

    assert ids(found) == [original.pk]
    assert found.candidates[0].source == Source.RETWEET
    assert found.candidates[0].via_user_id in {bob.pk, carol.pk}
    assert found.candidates[0].author_id == alice.pk


def test_social_proof_needs_several_followees():
    viewer, bob, carol, stranger = UserFactory.create_batch(4)
    follow(viewer, bob, carol)
    liked_by_two, liked_by_one = tweet(stranger, "two likes"), tweet(stranger, "one like")
    services.like_create(user=bob, tweet=liked_by_two)
    services.like_create(user=carol, tweet=liked_by_two)
    services.like_create(user=bob, tweet=liked_by_one)

    found = candidates_for(viewer_id=viewer.pk, at=timezone.now())

    assert ids(found) == [liked_by_two.pk]
    assert found.candidates[0].source == Source.SOCIAL_PROOF


def test_candidates_are_as_of_their_time():
    viewer, alice = UserFactory.create_batch(2)
    follow(viewer, alice)
    now = timezone.now()
    earlier = tweet(alice, "earlier", at=now - timedelta(hours=2))
    tweet(alice, "later", at=now)

    assert ids(candidates_for(viewer_id=viewer.pk, at=now - timedelta(hours=1))) == [earlier.pk]


def test_candidates_cost_two_queries_however_many(django_assert_num_queries):
    viewer, bob, carol = UserFactory.create_batch(3)
    follow(viewer, bob, carol)
    for n in range(30):
        posted = tweet(bob if n % 2 else carol, f"tweet {n}")
        services.like_create(user=bob, tweet=posted)
    assert Engagement.objects.count() == 30

    with django_assert_num_queries(2):
        found = candidates_for(viewer_id=viewer.pk, at=timezone.now())
    assert len(found.candidates) == 30


def test_what_the_viewer_has_seen_is_not_a_candidate_again():
    viewer, alice = UserFactory.create_batch(2)
    follow(viewer, alice)
    seen, unseen = tweet(alice, "seen"), tweet(alice, "unseen")
    services.engagements_log(user=viewer, events=[services.ClientEvent(seen.pk, "impression")])

    assert ids(candidates_for(viewer_id=viewer.pk, at=timezone.now() + timedelta(seconds=1))) == [unseen.pk]
