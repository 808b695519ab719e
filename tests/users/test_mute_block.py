"""Mute, block and muted words: the services, the API, and what they remove
from the feeds (both of them) and from what a blocked person sees."""

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from feed import selectors as selectors_feed
from feed import services as feed_services
from feed.models import Hide, Like, Report, Tweet
from feed.selectors import timeline_latest, tweets_in_order
from ranking.store import RankedFeed, RankedItem, ranked_feed_get, ranked_feed_store
from tests.factories import UserFactory, follow, tweet
from users import selectors, services
from users.models import Block, Follow, FollowEvent, Mute, MutedWord, Notification, User

pytestmark = pytest.mark.django_db


def latest(viewer):
    return [t.pk for t in timeline_latest(viewer=viewer, before=None, limit=50)]


def feed_ids(client, mode):
    response = client.get(f"/api/feed/?mode={mode}")
    assert response.status_code == 200
    return [item["id"] for item in response.json()["results"]]


# --- Services -----------------------------------------------------------------


def test_a_block_removes_the_follows_both_ways_with_counters_and_log():
    alice, bob = UserFactory.create_batch(2)
    follow(alice, bob)
    follow(bob, alice)

    assert services.block_create(user=alice, blocked=bob) is True

    assert not Follow.objects.filter(follower__in=[alice, bob]).exists()
    alice.refresh_from_db()
    bob.refresh_from_db()
    assert (alice.follower_count, bob.follower_count) == (0, 0)
    unfollows = FollowEvent.objects.filter(kind=FollowEvent.Kind.UNFOLLOW)
    assert {(e.follower_id, e.followee_id) for e in unfollows} == {(alice.pk, bob.pk), (bob.pk, alice.pk)}
    # Again: nothing more happens.
    assert services.block_create(user=alice, blocked=bob) is False
    assert Block.objects.count() == 1


@pytest.mark.parametrize("who", ["blocked", "blocker"])
def test_no_follow_across_a_block_either_way(who):
    alice, bob = UserFactory.create_batch(2)
    services.block_create(user=alice, blocked=bob)
    follower, followee = (bob, alice) if who == "blocked" else (alice, bob)

    with pytest.raises(ValidationError):
        services.follow_create(follower=follower, followee=followee)
    assert not Follow.objects.exists()


def test_a_blocked_person_cannot_reply_to_the_blocker():
    alice, bob = UserFactory.create_batch(2)
    post = tweet(alice, "mine")
    services.block_create(user=alice, blocked=bob)

    with pytest.raises(ValidationError):
        feed_services.tweet_create(author=bob, text="let me in", reply_to=post)
    assert Tweet.objects.count() == 1


@pytest.mark.parametrize("verb", ["mute", "block"])
def test_no_muting_or_blocking_yourself(verb):
    alice = UserFactory()
    create = services.mute_create if verb == "mute" else services.block_create
    with pytest.raises(ValidationError):
        create(user=alice, **{"muted" if verb == "mute" else "blocked": alice})
    assert not Mute.objects.exists() and not Block.objects.exists()


def test_silenced_user_ids_are_the_muted_the_blocked_and_the_blockers():
    viewer, muted, blocked, blocker, other = UserFactory.create_batch(5)
    services.mute_create(user=viewer, muted=muted)
    services.block_create(user=viewer, blocked=blocked)
    services.block_create(user=blocker, blocked=viewer)
    services.mute_create(user=other, muted=viewer)  # muted by someone: that one is still seen

    assert selectors.silenced_user_ids(viewer) == {muted.pk, blocked.pk, blocker.pk}
    services.mute_delete(user=viewer, muted=muted)
    services.block_delete(user=viewer, blocked=blocked)
    assert selectors.silenced_user_ids(viewer) == {blocker.pk}


@pytest.mark.parametrize(
    ("word", "stored"), [("Rust", "rust"), ("#Rust", "rust"), ("  café_2 ", "café_2"), ("a" * 50, "a" * 50)]
)
def test_muted_words_are_stored_lower_case_without_the_hash(word, stored):
    user = UserFactory()
    assert services.muted_word_create(user=user, word=word).word == stored
    assert selectors.muted_words(user) == [stored]


@pytest.mark.parametrize("word", ["", "#", "two words", "a.b", "(x)", "x" * 51, "@me"])
def test_a_muted_word_is_one_word(word):
    with pytest.raises(ValidationError):
        services.muted_word_create(user=UserFactory(), word=word)
    assert not MutedWord.objects.exists()


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("I love rust", True),
        ("RUST is great", True),
        ("#rust today", True),
        ("rust.", True),
        ("(Rust)", True),
        ("trust me", False),
        ("rusty nails", False),
        ("rust_belt", False),
        ("nothing here", False),
    ],
)
def test_muted_words_match_whole_words_and_hashtags_in_any_case_in_sql_and_in_python(text, hidden):
    viewer, author = UserFactory.create_batch(2)
    follow(viewer, author)
    services.muted_word_create(user=viewer, word="rust")
    posted = tweet(author, text)

    assert (posted.pk not in latest(viewer)) is hidden
    assert bool(selectors.muted_text_re(["rust"]).search(text)) is hidden


# --- Feeds ----------------------------------------------------------------------


def test_muted_and_blocked_people_leave_the_following_feed_with_their_retweets():
    viewer, muted, blocked, blocker, friend = UserFactory.create_batch(5)
    follow(viewer, muted, blocked, blocker, friend)
    kept = tweet(friend, "kept")
    by_muted, by_blocked, by_blocker = tweet(muted, "m"), tweet(blocked, "b"), tweet(blocker, "x")
    retweet_of_muted = feed_services.retweet_create(user=friend, tweet=by_muted)
    retweet_by_muted = feed_services.retweet_create(user=muted, tweet=tweet(UserFactory(), "elsewhere"))
    # One card per original: the muted person's tweet shows as the friend's retweet of it.
    assert {retweet_of_muted.pk, retweet_by_muted.pk} <= set(latest(viewer))

    services.mute_create(user=viewer, muted=muted)
    services.block_create(user=viewer, blocked=blocked)
    services.block_create(user=blocker, blocked=viewer)

    assert latest(viewer) == [kept.pk]
    assert tweets_in_order(viewer=viewer, tweet_ids=[by_muted.pk, by_blocked.pk, by_blocker.pk, kept.pk]) == [kept]


def test_a_muted_word_leaves_both_feeds_and_a_stored_ranked_list_is_dropped(
    api_for, django_capture_on_commit_callbacks
):
    client = api_for()
    author = UserFactory()
    follow(client.user, author)
    kept, noisy = tweet(author, "quiet news"), tweet(author, "Big #Election news")
    retweet = feed_services.retweet_create(user=author, tweet=tweet(UserFactory(), "election day"))
    ranked_feed_store(
        feed=RankedFeed(
            client.user.pk, "v1", timezone.now(), [RankedItem(noisy.pk, 2.0, ()), RankedItem(kept.pk, 1.0, ())]
        )
    )
    assert set(feed_ids(client, "latest")) == {kept.pk, noisy.pk, retweet.pk}
    assert feed_ids(client, "ranked") == [noisy.pk, kept.pk]

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/mutes/words/", {"word": "election"}, format="json")

    assert response.status_code == 201
    assert feed_ids(client, "latest") == [kept.pk]
    # The list built before the mute is gone (a new one is asked for); the page
    # served meanwhile is filtered too.
    assert ranked_feed_get(user_id=client.user.pk) is None
    assert feed_ids(client, "ranked") == [kept.pk]


def test_a_stored_list_hides_what_was_muted_since_even_before_it_is_rebuilt(api_for):
    client = api_for()
    author, muted = UserFactory.create_batch(2)
    follow(client.user, author, muted)
    kept, gone = tweet(author, "kept"), tweet(muted, "gone")
    services.mute_create(user=client.user, muted=muted)
    # A build that read its candidates before the mute, stored after it.
    ranked_feed_store(
        feed=RankedFeed(
            client.user.pk, "v1", timezone.now(), [RankedItem(gone.pk, 2.0, ()), RankedItem(kept.pk, 1.0, ())]
        )
    )

    assert feed_ids(client, "ranked") == [kept.pk]


def test_the_following_feed_is_still_a_constant_number_of_queries_with_mutes(
    api_for, django_assert_num_queries, experiment_cached
):
    client = api_for()
    authors = UserFactory.create_batch(4)
    follow(client.user, *authors)
    for author in authors:
        tweet(author, "hello rust")
        tweet(author, "hello world")
    services.mute_create(user=client.user, muted=authors[0])
    services.muted_word_create(user=client.user, word="rust")
    client.get("/api/feed/?mode=latest")  # last_feed_at written once

    # The feed request, the followees, the page, the served items.
    with django_assert_num_queries(4):
        response = client.get("/api/feed/?mode=latest")
    assert len(response.json()["results"]) == 3


# --- What a blocked person sees -----------------------------------------------


def test_a_blocked_person_sees_none_of_the_blockers_tweets_nor_profile(api_for, client):
    blocker = UserFactory()
    bob = api_for()
    post = tweet(blocker, "not for bob #topic")
    retweet = feed_services.retweet_create(user=UserFactory(), tweet=post)
    services.block_create(user=blocker, blocked=bob.user)

    for url in (
        f"/api/tweets/{post.pk}/",
        f"/api/tweets/{retweet.pk}/",
        f"/api/users/{blocker.username}/",
        f"/api/users/{blocker.username}/tweets/",
        f"/api/users/{blocker.username}/followers/",
    ):
        assert bob.get(url).status_code == 404, url
    for action in ("like", "retweet", "hide"):
        assert bob.post(f"/api/tweets/{post.pk}/{action}/").status_code == 404
    assert bob.post(f"/api/tweets/{post.pk}/report/", {"reason": "spam"}, format="json").status_code == 404
    assert bob.get(f"/api/tweets/{post.pk}/replies/").status_code == 404
    assert not Like.objects.exists() and not Hide.objects.exists() and not Report.objects.exists()
    assert Tweet.objects.count() == 2 and not Notification.objects.filter(actor=bob.user).exists()
    assert bob.post(f"/api/users/{blocker.username}/follow/").status_code == 404
    reply = bob.post("/api/tweets/", {"text": "hi", "reply_to": post.pk}, format="json")
    assert reply.status_code == 400
    client.force_login(bob.user)
    assert client.get(f"/t/{post.pk}/").status_code == 404
    assert client.get(f"/u/{blocker.username}/").status_code == 404
    assert str(post.pk) not in client.get("/hashtag/topic/").content.decode()
    # Someone else still sees it all.
    other = api_for()
    assert other.get(f"/api/tweets/{post.pk}/").status_code == 200
    assert other.get(f"/api/users/{blocker.username}/").status_code == 200


# --- API ----------------------------------------------------------------------------


@pytest.mark.parametrize("verb", ["mute", "block"])
def test_mute_and_block_api_round_trip(api_for, verb):
    client = api_for()
    other = UserFactory()
    model = Mute if verb == "mute" else Block

    response = client.post(f"/api/users/{other.username}/{verb}/")
    assert response.status_code == 201
    assert response.json() == {"username": other.username, ("muted" if verb == "mute" else "blocked"): True}
    assert model.objects.count() == 1
    assert client.post(f"/api/users/{other.username}/{verb}/").status_code == 201  # idempotent
    assert model.objects.count() == 1

    assert client.delete(f"/api/users/{other.username}/{verb}/").status_code == 204
    assert client.delete(f"/api/users/{other.username}/{verb}/").status_code == 204
    assert not model.objects.exists()


@pytest.mark.parametrize("verb", ["mute", "block"])
def test_muting_or_blocking_yourself_or_nobody_is_refused_and_writes_nothing(api_for, api, verb):
    client = api_for()

    yourself = client.post(f"/api/users/{client.user.username}/{verb}/")
    assert yourself.status_code == 400
    assert "yourself" in yourself.json()["username"][0]
    assert client.post(f"/api/users/nobody/{verb}/").status_code == 404
    assert client.delete(f"/api/users/nobody/{verb}/").status_code == 404
    assert api.post(f"/api/users/{client.user.username}/{verb}/").status_code in (401, 403)
    assert not Mute.objects.exists() and not Block.objects.exists() and not FollowEvent.objects.exists()


def test_someone_blocked_can_still_block_back():
    alice, bob = UserFactory.create_batch(2)
    services.block_create(user=alice, blocked=bob)
    assert services.block_create(user=bob, blocked=alice) is True


def test_muted_words_api(api_for, django_assert_num_queries):
    client = api_for()
    other = api_for()
    first = client.post("/api/mutes/words/", {"word": "#Spoilers"}, format="json")
    assert first.status_code == 201
    assert first.json()["word"] == "spoilers"
    assert client.post("/api/mutes/words/", {"word": "spoilers"}, format="json").json()["id"] == first.json()["id"]
    client.post("/api/mutes/words/", {"word": "crypto"}, format="json")

    with django_assert_num_queries(1):
        listed = client.get("/api/mutes/words/")
    assert [w["word"] for w in listed.json()["results"]] == ["crypto", "spoilers"]

    word_id = first.json()["id"]
    assert other.delete(f"/api/mutes/words/{word_id}/").status_code == 404  # not theirs
    assert client.delete(f"/api/mutes/words/{word_id}/").status_code == 204
    assert client.delete(f"/api/mutes/words/{word_id}/").status_code == 404
    assert list(MutedWord.objects.values_list("word", flat=True)) == ["crypto"]


@pytest.mark.parametrize("body", [{}, {"word": ""}, {"word": "two words"}, {"word": "x" * 60}, {"word": ["a"]}])
def test_bad_muted_words_are_a_400_naming_the_field(api_for, body):
    response = api_for().post("/api/mutes/words/", body, format="json")
    assert response.status_code == 400
    assert "word" in response.json()
    assert not MutedWord.objects.exists()


def test_muted_words_are_capped(api_for, monkeypatch):
    monkeypatch.setattr(services, "MUTED_WORDS_MAX", 2)
    client = api_for()
    for word in ("a", "b"):
        assert client.post("/api/mutes/words/", {"word": word}, format="json").status_code == 201
    assert client.post("/api/mutes/words/", {"word": "c"}, format="json").status_code == 400
    assert client.post("/api/mutes/words/", {"word": "a"}, format="json").status_code == 201  # there already
    assert MutedWord.objects.count() == 2


def test_user_count_unchanged_by_a_refused_block(api_for):
    client = api_for()
    before = User.objects.count()
    client.post(f"/api/users/{client.user.username}/block/")
    assert User.objects.count() == before


@pytest.mark.parametrize("word_id", [0, 2**63, 10**30])
def test_deleting_a_muted_word_id_out_of_range_is_a_404(api_for, word_id):
    assert api_for().delete(f"/api/mutes/words/{word_id}/").status_code == 404


def test_the_hand_written_page_hydration_filters_as_the_orm_does(django_assert_num_queries):
    """tweets_in_order's PostgreSQL SQL leaves out what tweets_silenced_for
    does: tweets by, retweets by and retweets of silenced people, and muted
    words in a tweet or in a retweet's original."""
    viewer, friend, muted, blocked, blocker = UserFactory.create_batch(5)
    posts = {
        "kept": tweet(friend, "kept"),
        "near miss": tweet(friend, "trusty"),
        "by muted": tweet(muted, "m"),
        "by blocked": tweet(blocked, "b"),
        "by blocker": tweet(blocker, "x"),
        "word": tweet(friend, "Rust!"),
        "hashtag": tweet(friend, "#rust"),
    }
    posts["retweet of muted"] = feed_services.retweet_create(user=friend, tweet=posts["by muted"])
    posts["retweet of blocker"] = feed_services.retweet_create(user=friend, tweet=posts["by blocker"])
    posts["retweet by muted"] = feed_services.retweet_create(user=muted, tweet=posts["kept"])
    posts["retweet of word"] = feed_services.retweet_create(user=UserFactory(), tweet=posts["word"])
    posts["retweet of kept"] = feed_services.retweet_create(user=UserFactory(), tweet=posts["near miss"])
    services.mute_create(user=viewer, muted=muted)
    services.block_create(user=viewer, blocked=blocked)
    services.block_create(user=blocker, blocked=viewer)
    services.muted_word_create(user=viewer, word="rust")
    ids = [t.pk for t in posts.values()]

    with django_assert_num_queries(1):
        got = [t.pk for t in tweets_in_order(viewer=viewer, tweet_ids=ids)]
    reference = (
        selectors_feed.tweets_hydrated(viewer=viewer)
        .exclude(selectors_feed.tweets_removed_by(viewer))
        .exclude(selectors_feed.tweets_silenced_for(viewer))
        .in_bulk(ids)
    )
    assert got == [pk for pk in ids if pk in reference]
    assert got == [posts[name].pk for name in ("kept", "near miss", "retweet of kept")]


def test_the_new_tweets_hint_ignores_what_the_viewer_silenced():
    viewer, muted, friend = UserFactory.create_batch(3)
    follow(viewer, muted, friend)
    services.mute_create(user=viewer, muted=muted)
    services.muted_word_create(user=viewer, word="noise")
    since = timezone.now()
    tweet(muted, "hello")
    tweet(friend, "more NOISE")
    assert not selectors_feed.timeline_has_newer(viewer=viewer, since=since)
    tweet(friend, "news")
    assert selectors_feed.timeline_has_newer(viewer=viewer, since=since)


def test_search_leaves_out_silenced_people_their_tweets_and_muted_words(api_for):
    client = api_for()
    muted = UserFactory(username="zed_muted")
    blocker = UserFactory(username="zed_blocker")
    kept = UserFactory(username="zed_kept")
    services.mute_create(user=client.user, muted=muted)
    services.block_create(user=blocker, blocked=client.user)
    services.muted_word_create(user=client.user, word="spoiler")
    shown = tweet(kept, "zebra facts")
    tweet(kept, "zebra spoiler")
    tweet(muted, "zebra news")
    tweet(blocker, "zebra stripes")

    people = client.get("/api/search/", {"q": "zed", "type": "users"})
    tweets = client.get("/api/search/", {"q": "zebra", "type": "tweets"})

    assert [p["username"] for p in people.json()["results"]] == ["zed_kept"]
    assert [t["id"] for t in tweets.json()["results"]] == [shown.pk]
    # Someone else finds them all.
    assert len(api_for().get("/api/search/", {"q": "zebra", "type": "tweets"}).json()["results"]) == 4


def test_who_to_follow_suggests_nobody_silenced():
    viewer, friend, muted, blocked, blocker, other = UserFactory.create_batch(6)
    follow(viewer, friend)
    follow(friend, muted, blocked, blocker, other)
    services.mute_create(user=viewer, muted=muted)
    services.block_create(user=viewer, blocked=blocked)
    services.block_create(user=blocker, blocked=viewer)

    suggested = {u.pk for u in selectors.who_to_follow(viewer=viewer, limit=10)}
    assert other.pk in suggested
    assert not suggested & {muted.pk, blocked.pk, blocker.pk}


def test_conversations_and_hashtag_pages_leave_out_what_the_viewer_silenced(client):
    viewer, friend, muted = UserFactory.create_batch(3)
    services.mute_create(user=viewer, muted=muted)
    services.muted_word_create(user=viewer, word="spoiler")
    root = tweet(friend, "the match #final")
    kept = tweet(friend, "what a game #final", reply_to=root)
    tweet(muted, "agreed #final", reply_to=root)
    tweet(friend, "the spoiler is #final", reply_to=root)

    def texts(url):
        return [t.text for t in client.get(url).context["tweets"]]

    client.force_login(viewer)
    conversation, tagged = texts(f"/t/{root.pk}/"), texts("/hashtag/final/")
    assert kept.text in conversation and kept.text in tagged
    assert not {"agreed #final", "the spoiler is #final"} & {*conversation, *tagged}
    client.force_login(friend)  # anyone else reads them all
    assert len(texts(f"/t/{root.pk}/")) == 3
    assert len(texts("/hashtag/final/")) == 4


def test_what_the_viewer_reported_leaves_their_search_conversations_and_hashtags_a_hide_only_their_feeds(client):
    viewer, friend = UserFactory.create_batch(2)
    root = tweet(friend, "the match #final")
    reported = tweet(friend, "buy followers #final", reply_to=root)
    hidden = tweet(friend, "a dull take #final", reply_to=root)
    feed_services.report_create(user=viewer, tweet=reported, reason="spam")
    feed_services.hide_create(user=viewer, tweet=hidden)

    def texts(url):
        return [t.text for t in client.get(url).context["tweets"]]

    client.force_login(viewer)
    conversation, tagged = texts(f"/t/{root.pk}/"), texts("/hashtag/final/")
    assert hidden.text in conversation and hidden.text in tagged
    assert reported.text not in conversation + tagged
    found = [t.pk for t in selectors_feed.tweets_search(viewer=viewer, query="final")]
    assert reported.pk not in found and hidden.pk in found
    assert reported.pk not in {t.pk for t in selectors_feed.tweets_tagged(viewer=viewer, tag="final")}
    client.force_login(friend)  # the author and everyone else still read it
    assert reported.text in texts(f"/t/{root.pk}/")
