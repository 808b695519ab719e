from datetime import timedelta

import pytest
from django.utils import timezone

from feed import services
from feed.models import Engagement
from ranking.serving.candidates import IN_NETWORK_MAX_AGE, OUT_OF_NETWORK_BELOW, Source, candidates_for, own_recent
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

    # Liked by one followee is no social proof; with so few candidates, it comes as popular.
    assert {c.tweet_id: c.source for c in found.candidates} == {
        liked_by_two.pk: Source.SOCIAL_PROOF,
        liked_by_one.pk: Source.POPULAR,
    }


def test_candidates_are_as_of_their_time():
    viewer, alice = UserFactory.create_batch(2)
    follow(viewer, alice)
    now = timezone.now()
    earlier = tweet(alice, "earlier", at=now - timedelta(hours=2))
    tweet(alice, "later", at=now)

    assert ids(candidates_for(viewer_id=viewer.pk, at=now - timedelta(hours=1))) == [earlier.pk]


def test_candidates_cost_two_queries_however_many_and_a_third_when_few(django_assert_num_queries):
    viewer, bob, carol = UserFactory.create_batch(3)
    follow(viewer, bob, carol)
    for n in range(OUT_OF_NETWORK_BELOW):
        posted = tweet(bob if n % 2 else carol, f"tweet {n}")
        services.like_create(user=bob, tweet=posted)
    assert Engagement.objects.count() == OUT_OF_NETWORK_BELOW

    with django_assert_num_queries(2):
        found = candidates_for(viewer_id=viewer.pk, at=timezone.now())
    assert len(found.candidates) == OUT_OF_NETWORK_BELOW
    services.hide_create(user=viewer, tweet=posted)  # one fewer than OUT_OF_NETWORK_BELOW
    with django_assert_num_queries(3):
        candidates_for(viewer_id=viewer.pk, at=timezone.now())


def test_out_of_network_fills_in_what_people_who_like_what_the_viewer_likes_liked():
    viewer, alice, kindred, other, stranger = UserFactory.create_batch(5)
    follow(viewer, alice)
    shared_taste = tweet(alice, "python tips")
    services.like_create(user=viewer, tweet=shared_taste, at=timezone.now() - timedelta(days=3))
    services.like_create(user=kindred, tweet=shared_taste, at=timezone.now() - timedelta(days=3))
    their_pick, crowd_pick = tweet(stranger, "more python"), tweet(stranger, "a meme")
    services.like_create(user=kindred, tweet=their_pick)
    for fan in (other, alice, UserFactory()):
        services.like_create(user=fan, tweet=crowd_pick)
    services.engagements_log(user=viewer, events=[services.ClientEvent(shared_taste.pk, "impression")])

    found = candidates_for(viewer_id=viewer.pk, at=timezone.now() + timedelta(seconds=1))

    assert {c.tweet_id: c.source for c in found.candidates} == {
        their_pick.pk: Source.SIMILAR,
        crowd_pick.pk: Source.POPULAR,
    }


def test_the_viewers_own_recent_tweets_are_pinned_newest_first():
    viewer = UserFactory()
    now = timezone.now()
    tweet(viewer, "an hour ago", at=now - timedelta(hours=1))
    earlier, latest = tweet(viewer, "earlier", at=now - timedelta(minutes=5)), tweet(viewer, "now", at=now)
    services.retweet_create(user=viewer, tweet=tweet())

    assert own_recent(viewer_id=viewer.pk, at=now + timedelta(seconds=1)) == [latest.pk, earlier.pk]


def test_what_the_viewer_has_seen_is_not_a_candidate_again():
    viewer, alice = UserFactory.create_batch(2)
    follow(viewer, alice)
    seen, unseen = tweet(alice, "seen"), tweet(alice, "unseen")
    services.engagements_log(user=viewer, events=[services.ClientEvent(seen.pk, "impression")])

    assert ids(candidates_for(viewer_id=viewer.pk, at=timezone.now() + timedelta(seconds=1))) == [unseen.pk]
