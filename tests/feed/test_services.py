from datetime import UTC, datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from feed import selectors, services
from feed.models import Engagement, FeedRequest, Hide, Like, Report, Tweet
from tests.factories import UserFactory, assigned, follow, served, tweet

pytestmark = pytest.mark.django_db

Kind = Engagement.Kind


def refreshed(t: Tweet) -> Tweet:
    return Tweet.objects.get(pk=t.pk)


def events(kind=None):
    rows = Engagement.objects.order_by("pk")
    return list(rows.filter(kind=kind) if kind else rows)


# --- Tweets and replies ----------------------------------------------------------


def test_tweet_create_strips_text():
    posted = tweet(text="  hello world \n")

    assert refreshed(posted).text == "hello world"
    assert posted.reply_to is None
    assert not events()


@pytest.mark.parametrize("text", ["", "   \n\t", "x" * 281, "bad\x00byte"])
def test_tweet_create_rejects_bad_text(text):
    author = UserFactory()

    with pytest.raises(ValidationError) as error:
        services.tweet_create(author=author, text=text)

    assert list(error.value.message_dict) == ["text"]
    assert not Tweet.objects.exists()


def test_tweet_create_accepts_exactly_280_characters_after_stripping():
    assert len(tweet(text=" " + "x" * 280 + " ").text) == 280


def test_replies_count_and_delete_of_a_reply_decrements():
    parent = tweet()
    first = tweet(text="one", reply_to=parent)
    second = tweet(text="two", reply_to=parent)

    assert refreshed(parent).reply_count == 2
    assert [(e.user_id, e.tweet_id) for e in events(Kind.REPLY)] == [
        (first.author_id, parent.pk),
        (second.author_id, parent.pk),
    ]

    services.tweet_delete(tweet=first, by=first.author)
    services.tweet_delete(tweet=first, by=first.author)

    assert refreshed(parent).reply_count == 1
    assert refreshed(first).deleted_at is not None
    # The log is append-only: deleting the reply keeps its event.
    assert len(events(Kind.REPLY)) == 2


def test_reply_to_a_retweet_answers_the_original():
    original = tweet()
    retweet = services.retweet_create(user=UserFactory(), tweet=original)

    reply = tweet(text="re", reply_to=retweet)

    assert reply.reply_to_id == original.pk
    assert refreshed(original).reply_count == 1
    assert refreshed(retweet).reply_count == 0


def test_hydrated_tweets_carry_authors_and_viewer_state_in_one_query(django_assert_num_queries):
    original = tweet()
    viewer = UserFactory()
    retweet = services.retweet_create(user=viewer, tweet=original)
    services.like_create(user=viewer, tweet=original)

    with django_assert_num_queries(1):
        got = selectors.tweets_hydrated(viewer=viewer).get(pk=retweet.pk)
        authors = (got.author.username, got.retweet_of.author.username)
    assert authors == (retweet.author.username, original.author.username)
    assert got.liked and got.retweeted
    services.tweet_delete(tweet=original, by=original.author)
    assert not selectors.tweets_hydrated().filter(pk__in=[original.pk, retweet.pk]).exists()


def _card(t):
    """Everything a card reads off a hydrated tweet."""
    if t is None:
        return None
    fields = {f.attname: getattr(t, f.attname) for f in Tweet._meta.concrete_fields}
    author = {f.attname: getattr(t.author, f.attname) for f in type(t.author)._meta.concrete_fields}
    state = (bool(getattr(t, "liked", False)), bool(getattr(t, "retweeted", False)), getattr(t, "replying_to", None))
    return fields, author, state, _card(t.retweet_of) if t.retweet_of_id else None


def test_tweets_in_order_by_hand_equals_the_orm_in_one_query(django_assert_num_queries):
    """The ranked page's hand-written hydration gives the ORM's rows: deleted
    tweets, retweets of deleted originals and what the viewer hid or reported
    (on the original or a retweet of it) left out; likes and retweets read on
    the original; whom a reply answers; the ids' order kept."""
    viewer, author, other = UserFactory(), UserFactory(), UserFactory()
    plain, liked, hidden, reported, gone, gone_original = (tweet(author=author, text=f"t{n}") for n in range(6))
    reply = tweet(author=other, text="a reply", reply_to=plain)
    retweet_of_liked = services.retweet_create(user=other, tweet=liked)
    retweet_of_hidden = services.retweet_create(user=other, tweet=hidden)
    retweet_of_gone = services.retweet_create(user=other, tweet=gone_original)
    own_retweet = services.retweet_create(user=viewer, tweet=plain)
    services.like_create(user=viewer, tweet=retweet_of_liked)
    services.retweet_create(user=viewer, tweet=liked)
    services.retweet_delete(user=viewer, tweet=liked)  # a deleted retweet is no longer "retweeted"
    services.hide_create(user=viewer, tweet=hidden)
    services.report_create(user=viewer, tweet=reported, reason="spam")
    services.tweet_delete(tweet=gone, by=author)
    services.tweet_delete(tweet=gone_original, by=author)
    retweet_of_reply = services.retweet_create(user=author, tweet=reply)
    shown = (
        retweet_of_gone,
        reply,
        own_retweet,
        plain,
        liked,
        retweet_of_liked,
        hidden,
        retweet_of_hidden,
        retweet_of_reply,
    )
    ids = [t.pk for t in (*shown, reported, gone, gone_original)] + [10**12]

    with django_assert_num_queries(1):
        got = selectors.tweets_in_order(viewer=viewer, tweet_ids=ids)
        cards = [_card(t) for t in got]
    found = selectors.tweets_hydrated(viewer=viewer).exclude(selectors.tweets_removed_by(viewer)).in_bulk(ids)
    assert [t.pk for t in got] == [
        reply.pk,
        own_retweet.pk,
        plain.pk,
        liked.pk,
        retweet_of_liked.pk,
        retweet_of_reply.pk,
    ]
    assert cards == [_card(found[pk]) for pk in ids if pk in found]
    assert [t.liked for t in got] == [False, False, False, True, True, False]
    assert [t.retweeted for t in got] == [False, True, True, False, False, False]
    # "Replying to @name": a reply's, and a retweeted reply's, parent's author.
    assert [t.replying_to for t in got] == [author.username, None, None, None, None, author.username]
    assert selectors.tweets_in_order(viewer=viewer, tweet_ids=[]) == []


def test_tweet_delete_by_someone_else_is_refused():
    posted = tweet()

    with pytest.raises(PermissionDenied):
        services.tweet_delete(tweet=posted, by=UserFactory())

    assert refreshed(posted).deleted_at is None


def test_tweet_remove_deletes_as_the_author_would():
    parent = tweet()
    reply = tweet(reply_to=parent)

    services.tweet_remove(tweet=reply)

    assert refreshed(reply).deleted_at is not None
    assert refreshed(parent).reply_count == 0


# --- Likes -----------------------------------------------------------------------


def test_like_unlike_like_leaves_one_like_and_two_events():
    posted = tweet()
    fan = UserFactory()

    services.like_create(user=fan, tweet=posted)
    services.like_delete(user=fan, tweet=posted)
    services.like_create(user=fan, tweet=posted)

    assert refreshed(posted).like_count == 1
    assert Like.objects.filter(user=fan, tweet=posted).count() == 1
    assert [(e.user_id, e.tweet_id) for e in events(Kind.LIKE)] == [(fan.pk, posted.pk)] * 2


def test_like_twice_and_unlike_twice_are_idempotent():
    posted = tweet()
    fan = UserFactory()

    services.like_create(user=fan, tweet=posted)
    services.like_create(user=fan, tweet=posted)
    assert refreshed(posted).like_count == 1
    assert len(events(Kind.LIKE)) == 1

    services.like_delete(user=fan, tweet=posted)
    services.like_delete(user=fan, tweet=posted)
    assert refreshed(posted).like_count == 0
    assert not Like.objects.exists()


def test_likes_of_several_users_add_up():
    posted = tweet()
    for fan in UserFactory.create_batch(3):
        services.like_create(user=fan, tweet=posted)

    assert refreshed(posted).like_count == 3


def test_liking_a_retweet_likes_the_original():
    original = tweet()
    retweet = services.retweet_create(user=UserFactory(), tweet=original)
    fan = UserFactory()

    assert services.like_create(user=fan, tweet=retweet) == original
    assert (refreshed(original).like_count, refreshed(retweet).like_count) == (1, 0)
    assert services.like_delete(user=fan, tweet=retweet) == original
    assert refreshed(original).like_count == 0


# --- Retweets --------------------------------------------------------------------


def test_retweet_unretweet_retweet():
    original = tweet()
    fan = UserFactory()

    first = services.retweet_create(user=fan, tweet=original)
    assert services.retweet_delete(user=fan, tweet=original) == original
    second = services.retweet_create(user=fan, tweet=original)

    assert first.pk != second.pk
    assert refreshed(original).retweet_count == 1
    assert list(Tweet.objects.visible().filter(retweet_of=original)) == [second]
    assert len(events(Kind.RETWEET)) == 2


def test_retweet_twice_keeps_one_retweet():
    original = tweet()
    fan = UserFactory()

    first = services.retweet_create(user=fan, tweet=original)
    second = services.retweet_create(user=fan, tweet=original)

    assert first.pk == second.pk
    assert refreshed(original).retweet_count == 1
    assert len(events(Kind.RETWEET)) == 1


def test_retweeting_a_retweet_retweets_the_original():
    original = tweet()
    retweet = services.retweet_create(user=UserFactory(), tweet=original)
    fan = UserFactory()

    again = services.retweet_create(user=fan, tweet=retweet)

    assert again.retweet_of_id == original.pk
    assert again.original == original
    assert (refreshed(original).retweet_count, refreshed(retweet).retweet_count) == (2, 0)
    # Undoing through the retweet undoes the retweet of the original.
    services.retweet_delete(user=fan, tweet=retweet)
    assert refreshed(original).retweet_count == 1


def test_unretweet_without_retweet_is_a_no_op():
    original = tweet()

    services.retweet_delete(user=UserFactory(), tweet=original)

    assert refreshed(original).retweet_count == 0


# --- Hide and report ---------------------------------------------------------------


def test_hide_is_idempotent_and_hides_the_original():
    original = tweet()
    retweet = services.retweet_create(user=UserFactory(), tweet=original)
    viewer = UserFactory()

    assert services.hide_create(user=viewer, tweet=retweet) == original
    services.hide_create(user=viewer, tweet=original)

    assert list(Hide.objects.values_list("user", "tweet")) == [(viewer.pk, original.pk)]
    assert len(events(Kind.HIDE)) == 1


def test_report_is_idempotent_and_keeps_the_first_reason():
    posted = tweet()
    reporter = UserFactory()

    first = services.report_create(user=reporter, tweet=posted, reason=Report.Reason.SPAM)
    second = services.report_create(user=reporter, tweet=posted, reason=Report.Reason.ABUSE)

    assert first.pk == second.pk
    assert Report.objects.get().reason == Report.Reason.SPAM
    assert len(events(Kind.REPORT)) == 1


def test_report_of_own_tweet_or_its_retweet_is_refused():
    posted = tweet()
    retweet = services.retweet_create(user=UserFactory(), tweet=posted)

    for target in (posted, retweet):
        with pytest.raises(ValidationError) as error:
            services.report_create(user=posted.author, tweet=target, reason=Report.Reason.SPAM)
        assert "tweet" in error.value.message_dict
    assert not Report.objects.exists()
    assert not events(Kind.REPORT)


def test_report_with_unknown_reason_is_refused():
    with pytest.raises(ValidationError) as error:
        services.report_create(user=UserFactory(), tweet=tweet(), reason="boring")

    assert "reason" in error.value.message_dict
    assert not Report.objects.exists()


def test_reports_resolve_counts_only_open_reports():
    posted = tweet()
    for reporter in UserFactory.create_batch(3):
        services.report_create(user=reporter, tweet=posted, reason=Report.Reason.SPAM)
    Report.objects.filter(pk=Report.objects.first().pk).update(resolved=True)

    assert services.reports_resolve(reports=Report.objects.all()) == 2
    assert services.reports_resolve(reports=Report.objects.all()) == 0
    assert not Report.objects.filter(resolved=False).exists()


# --- The event log -----------------------------------------------------------------


def act_like(user, target, served, at):
    services.like_create(user=user, tweet=target, served=served, at=at)


def act_retweet(user, target, served, at):
    services.retweet_create(user=user, tweet=target, served=served, at=at)


def act_reply(user, target, served, at):
    services.tweet_create(author=user, text="re", reply_to=target, served=served, at=at)


def act_hide(user, target, served, at):
    services.hide_create(user=user, tweet=target, served=served, at=at)


def act_report(user, target, served, at):
    services.report_create(user=user, tweet=target, reason=Report.Reason.SPAM, served=served, at=at)


def state_written(kind, user, original):
    return {
        Kind.LIKE: lambda: Like.objects.filter(user=user).exists() or refreshed(original).like_count != 0,
        Kind.RETWEET: lambda: Tweet.objects.filter(author=user).exists() or refreshed(original).retweet_count != 0,
        Kind.REPLY: lambda: Tweet.objects.filter(author=user).exists() or refreshed(original).reply_count != 0,
        Kind.HIDE: lambda: Hide.objects.filter(user=user).exists(),
        Kind.REPORT: lambda: Report.objects.filter(user=user).exists(),
    }[kind]()


ACTIONS = [
    pytest.param(act_like, Kind.LIKE, id="like"),
    pytest.param(act_retweet, Kind.RETWEET, id="retweet"),
    pytest.param(act_reply, Kind.REPLY, id="reply"),
    pytest.param(act_hide, Kind.HIDE, id="hide"),
    pytest.param(act_report, Kind.REPORT, id="report"),
]


@pytest.mark.parametrize(("act", "kind"), ACTIONS)
def test_each_action_logs_one_event_with_where_it_was_served(act, kind):
    user = UserFactory()
    original = tweet()
    retweet = services.retweet_create(user=UserFactory(), tweet=original)
    Engagement.objects.all().delete()
    feed_request = services.feed_request_create(user=user, mode="ranked", model_version="m-7", assignment=assigned("B"))
    at = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)

    # Acting on a retweet acts on (and logs against) the original.
    act(user, retweet, services.Served(feed_request=feed_request, position=4), at)

    [event] = events()
    assert (event.kind, event.user_id, event.tweet_id) == (kind, user.pk, original.pk)
    assert (event.feed_request_id, event.position) == (feed_request.pk, 4)
    assert (event.model_version, event.variant, event.created_at) == ("m-7", "B", at)
    assert state_written(kind, user, original)


@pytest.mark.parametrize(("act", "kind"), ACTIONS)
def test_action_state_and_event_commit_together(act, kind, monkeypatch):
    user = UserFactory()
    original = tweet()

    def broken_log(**kwargs):
        raise RuntimeError("event log unavailable")

    monkeypatch.setattr(services, "_log", broken_log)
    with pytest.raises(RuntimeError):
        act(user, original, services.NOT_SERVED, None)

    assert not state_written(kind, user, original)
    assert not events()


def test_engagements_log_writes_the_batch_with_feed_request_context():
    viewer = UserFactory()
    posted = tweet()
    feed_request = served(viewer, posted, model_version="m-1", assignment=assigned("A"))

    logged = services.engagements_log(
        user=viewer,
        events=[
            services.ClientEvent(tweet_id=posted.pk, kind=Kind.IMPRESSION, feed_request=feed_request, position=0),
            services.ClientEvent(tweet_id=posted.pk, kind=Kind.DWELL, dwell_ms=1500),
        ],
    )

    assert logged == services.LoggedBatch(stored=2, duplicates=0)
    rows = {e.kind: e for e in events()}
    assert (rows[Kind.IMPRESSION].model_version, rows[Kind.IMPRESSION].variant) == ("m-1", "A")
    dwell = rows[Kind.DWELL]
    assert (dwell.dwell_ms, dwell.feed_request, dwell.model_version) == (1500, None, "")


def test_rows_describe_themselves():
    viewer = UserFactory()
    posted = tweet()
    retweet = services.retweet_create(user=viewer, tweet=posted)
    like = Like.objects.create(user=viewer, tweet=posted)
    hide = Hide.objects.create(user=viewer, tweet=posted)
    report = services.report_create(user=viewer, tweet=posted, reason="spam")
    feed_request = services.feed_request_create(user=viewer, mode=FeedRequest.Mode.LATEST)

    assert str(posted) == f"{posted.pk} by {posted.author_id}"
    assert str(like) == f"{viewer.pk} likes {posted.pk}"
    assert str(hide) == f"{viewer.pk} hid {posted.pk}"
    assert str(report) == f"{viewer.pk} reported {posted.pk}: spam"
    assert str(events(Kind.RETWEET)[0]) == f"retweet {viewer.pk}->{posted.pk}"
    assert str(feed_request).startswith(f"latest feed for {viewer.pk} at ")
    assert retweet.original == posted


# --- The latest timeline: one card per original ---------------------------------------


def latest(viewer, limit=20) -> list[Tweet]:
    """Every page of `viewer`'s latest timeline, read on with the cursor."""
    shown, cursor = [], None
    while True:
        page = services.feed_read(viewer=viewer, mode=FeedRequest.Mode.LATEST, cursor=cursor, limit=limit)
        shown += [item.tweet for item in page.items]
        if not page.next_cursor:
            return shown
        cursor = page.next_cursor


def test_a_tweet_shows_once_in_the_latest_timeline_at_its_newest_retweet():
    viewer, alice, bob, carol = UserFactory.create_batch(4)
    follow(viewer, alice, bob)
    original = tweet(alice, "worth sharing")
    other = tweet(alice, "in between")
    first = services.retweet_create(user=bob, tweet=original)
    services.retweet_create(user=carol, tweet=original)  # not followed: not in the timeline

    shown = latest(viewer)

    assert [t.pk for t in shown] == [first.pk, other.pk]
    assert (shown[0].also_retweeted_by, shown[0].also_retweeted_count) == (None, 0)


def test_several_retweets_of_one_tweet_are_one_card_naming_the_others():
    viewer, alice, bob, dave, stranger = UserFactory.create_batch(5)
    follow(viewer, alice, bob, dave)
    original = tweet(stranger, "viral")
    services.retweet_create(user=alice, tweet=original)
    services.retweet_create(user=bob, tweet=original)
    newest = services.retweet_create(user=dave, tweet=original)

    [card] = latest(viewer)

    assert card.pk == newest.pk
    assert (card.also_retweeted_by, card.also_retweeted_count) == (bob.username, 2)
    assert not card.retweeted

    # The viewer's own retweet, older than dave's: counted as `retweeted`, not among the others.
    services.retweet_delete(user=dave, tweet=original)
    services.retweet_create(user=viewer, tweet=original)
    again = services.retweet_create(user=dave, tweet=original)
    [card] = latest(viewer)
    assert card.pk == again.pk
    assert (card.also_retweeted_by, card.also_retweeted_count, card.retweeted) == (bob.username, 2, True)


@pytest.mark.parametrize("limit", [1, 2, 3, 5])
def test_pages_of_the_latest_timeline_neither_skip_nor_repeat_an_original(limit):
    viewer, alice, bob = UserFactory.create_batch(3)
    follow(viewer, alice, bob)
    originals = [tweet(alice, f"tweet {n}") for n in range(6)]
    # Retweets spread over the timeline: each original's newest appearance is where it shows.
    for n in (0, 3, 1):
        services.retweet_create(user=bob, tweet=originals[n])
    services.retweet_create(user=viewer, tweet=originals[3])

    shown = [t.original.pk for t in latest(viewer, limit=limit)]

    assert shown == [originals[n].pk for n in (3, 1, 0, 5, 4, 2)]


def test_a_retweet_made_between_two_pages_does_not_repeat_a_tweet_on_the_next():
    viewer, alice, bob = UserFactory.create_batch(3)
    follow(viewer, alice, bob)
    older, newer = tweet(alice, "older"), tweet(alice, "newer")
    first = services.feed_read(viewer=viewer, mode=FeedRequest.Mode.LATEST, limit=1)
    assert [i.tweet.pk for i in first.items] == [newer.pk]

    # Retweeted now: its newest appearance is above the cursor, so the next page skips it.
    services.retweet_create(user=bob, tweet=newer)
    services.retweet_create(user=bob, tweet=older)
    second = services.feed_read(viewer=viewer, mode=FeedRequest.Mode.LATEST, cursor=first.next_cursor, limit=1)

    assert second.items == [] and second.next_cursor is None


def test_the_latest_timeline_as_of_a_time_ignores_retweets_made_since():
    viewer, alice, bob = UserFactory.create_batch(3)
    follow(viewer, alice, bob)
    original = tweet(alice, "before the build")
    build_at = timezone.now()
    services.retweet_create(user=bob, tweet=original)

    as_built = selectors.timeline_latest(viewer=viewer, before=None, limit=10, as_of=build_at)
    now = selectors.timeline_latest(viewer=viewer, before=None, limit=10)

    assert [t.pk for t in as_built] == [original.pk]
    assert [t.original.pk for t in now] == [original.pk] and now[0].retweet_of_id
