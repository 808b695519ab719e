"""The ranked feed's candidates leave out what mutes, blocks and muted words
silence, before any is scored."""

import pytest
from django.utils import timezone

from feed import services
from ranking.serving.candidates import Source, candidates_for
from tests.factories import UserFactory, follow, tweet
from users import services as user_services

pytestmark = pytest.mark.django_db


def ids(viewer):
    return {c.tweet_id for c in candidates_for(viewer_id=viewer.pk, at=timezone.now()).candidates}


def test_candidates_leave_out_silenced_people_their_retweets_and_muted_words():
    viewer, friend, muted, blocked, blocker, stranger = UserFactory.create_batch(6)
    follow(viewer, friend, muted, blocked, blocker)
    kept = tweet(friend, "kept")
    by_muted, by_blocked, by_blocker = tweet(muted, "m"), tweet(blocked, "b"), tweet(blocker, "x")
    retweeted_by_muted = tweet(stranger, "brought by a muted retweet")
    services.retweet_create(user=muted, tweet=retweeted_by_muted)
    of_muted = tweet(muted, "retweeted by a friend")
    services.retweet_create(user=friend, tweet=of_muted)
    noisy, hashtag, near_miss = tweet(friend, "Election news"), tweet(friend, "#ELECTION"), tweet(friend, "elections")
    everything = {kept, by_muted, by_blocked, by_blocker, retweeted_by_muted, of_muted, noisy, hashtag, near_miss}
    assert ids(viewer) == {t.pk for t in everything}

    user_services.mute_create(user=viewer, muted=muted)
    user_services.block_create(user=viewer, blocked=blocked)
    user_services.block_create(user=blocker, blocked=viewer)
    user_services.muted_word_create(user=viewer, word="election")

    found = candidates_for(viewer_id=viewer.pk, at=timezone.now())
    in_network = {c.tweet_id for c in found.candidates if c.source not in Source.FILL}
    assert in_network == {kept.pk, near_miss.pk}
    assert found.followee_ids == {friend.pk}
    # A stranger's tweet a muted person retweeted may still come as popular
    # (the stranger is not muted), but never through the muted person.
    assert all(c.via_user_id != muted.pk for c in found.candidates)
    assert {c.tweet_id for c in found.candidates} <= {kept.pk, near_miss.pk, retweeted_by_muted.pk}


def test_out_of_network_candidates_are_filtered_too():
    viewer, stranger, fan, other_fan = UserFactory.create_batch(4)
    popular = tweet(stranger, "everyone likes this")
    for person in (fan, other_fan):
        services.like_create(user=person, tweet=popular)
    assert ids(viewer) == {popular.pk}

    user_services.mute_create(user=viewer, muted=stranger)
    assert ids(viewer) == set()
