import base64
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.core import signing
from django.db import connection
from django.template import Context, Template
from django.template.loader import render_to_string
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from feed import services
from feed.models import Engagement, FeedRequest, Tweet
from feed.selectors import CURSOR_SALT
from feed.templatetags.tweets import age, linkify
from ranking.store import RankedFeed, RankedItem, ranked_feed_store
from tests.factories import UserFactory, follow, tweet

pytestmark = pytest.mark.django_db

XSS = '<script>alert(1)</script> <img src=x onerror="alert(2)"> javascript:alert(3)'


def body(response) -> str:
    return response.content.decode()


def cards(response) -> list[str]:
    """The tweet ids of the cards on a page, in order."""
    return re.findall(r'<article class="card[^"]*" id="t-(\d+)"', body(response))


def queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.fixture
def followee(logged_in):
    author = UserFactory(username="alice", display_name="Alice A.")
    follow(logged_in.user, author)
    return author


# --- Logged out -------------------------------------------------------------------


def test_logged_out_home_is_a_landing_page_with_sign_up_log_in_and_the_docs(client):
    page = body(client.get("/"))

    for link in ("/signup/", "/login/", "/api/docs/", "/api/schema/", "/admin/"):
        assert f'href="{link}' in page


@pytest.mark.parametrize("url", ["/following/", "/compose/", "/feed/newer/"])
def test_pages_send_logged_out_people_to_log_in(client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith(f"/login/?next={url}")


# --- Home -------------------------------------------------------------------------


def test_for_you_without_a_ranked_list_says_so_and_shows_the_latest(logged_in, followee):
    older, newer = tweet(followee, "first"), tweet(followee, "second")

    response = logged_in.get("/")

    page = body(response)
    assert "is being prepared" in page
    assert cards(response) == [str(newer.pk), str(older.pk)]
    feed_request = FeedRequest.objects.get(user=logged_in.user)
    assert f'data-feed-request="{feed_request.pk}" data-position="0"' in page
    assert 'data-position="1"' in page
    assert 'aria-current="page">For you' in page


def test_for_you_serves_the_ranked_list_with_why_am_i_seeing_this(logged_in, followee):
    first, second = tweet(followee, "first"), tweet(followee, "second")
    items = [
        RankedItem(first.pk, 2.0, ("You often like @alice", "Liked by 3 people you follow")),
        RankedItem(second.pk, 1.0, ()),
    ]
    ranked_feed_store(feed=RankedFeed(logged_in.user.pk, "v3", timezone.now(), items))

    response = logged_in.get("/")

    page = body(response)
    assert cards(response) == [str(first.pk), str(second.pk)]
    assert "is being prepared" not in page
    assert page.count("Why am I seeing this?") == 1
    assert "You often like @alice · Liked by 3 people you follow" in page
    assert FeedRequest.objects.get().model_version == "v3"


def test_following_shows_the_latest_with_my_own_tweets_and_retweets(logged_in, followee):
    mine = tweet(logged_in.user, "mine")
    original = tweet(UserFactory(username="carol"), "worth sharing")
    retweet = services.retweet_create(user=followee, tweet=original)
    services.like_create(user=logged_in.user, tweet=original)

    response = logged_in.get("/following/")

    page = body(response)
    assert cards(response) == [str(retweet.pk), str(mine.pk)]
    assert '<a href="/u/alice/">@alice</a> retweeted' in page
    assert f'data-tweet="{original.pk}"' in page  # actions act on the original
    assert 'data-action="like" aria-pressed="true"' in page
    assert 'aria-current="page">Following' in page
    assert FeedRequest.objects.get().mode == FeedRequest.Mode.LATEST


def test_cards_log_engagement_on_others_tweets_only(logged_in, followee):
    tweet(logged_in.user, "mine")
    tweet(followee, "theirs")

    page = body(logged_in.get("/following/"))

    assert page.count(" data-log") == 1
    assert page.count('data-action="delete"') == 1  # my own tweet's menu
    assert page.count('data-action="hide"') == 1


def test_load_more_answers_the_next_cards_only_continuing_the_feed_request(logged_in, followee, settings):
    settings.FEED_PAGE_SIZE = 2
    for n in range(5):
        tweet(followee, f"tweet {n}")

    first = logged_in.get("/following/")
    more = re.search(r'<a class="more" href="([^"]+)"', body(first))[1].replace("&amp;", "&")
    fragment = logged_in.get(f"/following/{more}", headers={"X-Fragment": "1"})

    assert "<html" not in body(fragment)
    assert "X-Fragment" in fragment["Vary"]
    assert len(cards(fragment)) == 2
    assert 'data-position="2"' in body(fragment) and 'data-position="3"' in body(fragment)
    assert FeedRequest.objects.count() == 1
    assert 'class="more"' in body(fragment)


def test_a_bad_cursor_is_a_400(logged_in):
    assert logged_in.get("/?cursor=not-a-cursor").status_code == 400
    assert not FeedRequest.objects.exists()


def test_an_empty_home_suggests_people_to_follow(logged_in):
    popular = UserFactory(username="popular")
    follow(UserFactory(), popular)

    page = body(logged_in.get("/"))

    assert "Nothing here yet" in page
    assert "People to follow" in page
    assert 'data-username="popular"' in page


def test_hidden_tweets_leave_the_home_feed(logged_in, followee):
    kept, hidden = tweet(followee, "kept"), tweet(followee, "hidden")
    services.hide_create(user=logged_in.user, tweet=hidden)

    assert cards(logged_in.get("/following/")) == [str(kept.pk)]


@pytest.mark.parametrize("url", ["/", "/following/"])
def test_home_takes_a_constant_number_of_queries(logged_in, followee, url, django_assert_max_num_queries):
    tweet(followee, "one")
    few = queries(logged_in, url)
    for n in range(25):
        author = UserFactory()
        follow(logged_in.user, author)
        # Retweets of replies (whose parents' authors the cards name), some
        # by several people followed (one card saying who).
        shared = tweet(UserFactory(), f"tweet {n}", reply_to=tweet(UserFactory()))
        services.retweet_create(user=author, tweet=shared)
        if n % 3 == 0:
            services.retweet_create(user=followee, tweet=shared)

    with django_assert_max_num_queries(few):
        response = logged_in.get(url)
    assert len(cards(response)) == settings.FEED_PAGE_SIZE


# --- New tweets hint ---------------------------------------------------------------


def test_newer_says_whether_followees_posted_since(logged_in, followee):
    since = timezone.now()
    tweet(logged_in.user, "my own does not count")

    assert logged_in.get("/feed/newer/", {"since": since.isoformat()}).json() == {"newer": False}
    tweet(followee, "news")
    assert logged_in.get("/feed/newer/", {"since": since.isoformat()}).json() == {"newer": True}


@pytest.mark.parametrize("since", ["", "yesterday", "2026-13-45T00:00:00+00:00", "2026-01-01T00:00:00"])
def test_newer_needs_a_time_with_its_offset(logged_in, since):
    assert logged_in.get("/feed/newer/", {"since": since}).status_code == 400


# --- Posting ------------------------------------------------------------------------


def test_posting_goes_back_where_the_form_said(logged_in):
    response = logged_in.post("/compose/", {"text": "  hello there  ", "next": "/following/"})

    assert response.status_code == 302
    assert response["Location"] == "/following/"
    assert Tweet.objects.get().text == "hello there"
    assert "Your tweet was posted." in body(logged_in.get("/following/"))


def test_a_reply_counts_on_its_parent_and_opens_in_its_conversation(logged_in):
    parent = tweet(text="question?")

    response = logged_in.post("/compose/", {"text": "answer", "reply_to": parent.pk})

    reply = Tweet.objects.get(reply_to=parent)
    assert response["Location"] == f"/t/{parent.pk}/#t-{reply.pk}"
    assert Tweet.objects.get(pk=parent.pk).reply_count == 1
    assert Engagement.objects.get(kind=Engagement.Kind.REPLY).tweet_id == parent.pk


def test_posting_never_redirects_off_site(logged_in):
    response = logged_in.post("/compose/", {"text": "hi", "next": "https://evil.example/"})

    assert response["Location"] == f"/t/{Tweet.objects.get().pk}/"


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"text": "   "},
        {"text": "x" * (settings.TWEET_MAX_CHARS + 1)},
        {"text": "hi", "reply_to": 999_999},
        {"text": "hi", "reply_to": str(2**64)},
    ],
)
def test_bad_posts_come_back_with_errors_and_write_nothing(logged_in, data):
    response = logged_in.post("/compose/", data)

    assert response.status_code == 400
    assert 'role="alert"' in body(response)
    assert not Tweet.objects.exists()


def test_text_over_the_limit_is_kept_in_the_box(logged_in):
    text = "y" * (settings.TWEET_MAX_CHARS + 1)

    assert text in body(logged_in.post("/compose/", {"text": text}))


def test_posting_needs_the_csrf_token(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)

    response = client.post("/compose/", {"text": "forged"})

    assert response.status_code == 403
    assert "Please try again" in body(response)
    assert not Tweet.objects.exists()


def test_the_compose_form_shares_the_api_write_limit_and_says_so(logged_in, api_for, settings):
    """The audit: the HTML compose form bypassed the API write limit."""
    settings.WRITE_RATE = "3/hour"
    api = api_for(logged_in.user)
    target = tweet(text="to like")

    assert api.post("/api/tweets/", {"text": "by the API"}, format="json").status_code == 201
    assert api.post(f"/api/tweets/{target.pk}/like/").status_code == 201
    assert logged_in.post("/compose/", {"text": "by the page"}).status_code == 302
    refused = logged_in.post("/compose/", {"text": "one too many"})

    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 3600
    assert "You are writing too fast. Try again in" in body(refused)
    assert "one too many" in body(refused)  # the text is kept
    assert api.post("/api/tweets/", {"text": "nor here"}, format="json").status_code == 429
    assert set(Tweet.objects.filter(author=logged_in.user).values_list("text", flat=True)) == {
        "by the API",
        "by the page",
    }


def test_the_compose_box_counts_to_the_limit(logged_in):
    page = body(logged_in.get("/compose/"))

    assert f'data-max-chars="{settings.TWEET_MAX_CHARS}"' in page
    assert f'<output id="compose-count" class="counter" for="compose-text">{settings.TWEET_MAX_CHARS}</output>' in page


# --- Tweet page ---------------------------------------------------------------------


def test_tweet_page_shows_the_conversation_and_a_reply_box(logged_in):
    root = tweet(text="root")
    middle = tweet(text="middle", reply_to=root)
    focus = tweet(text="focus", reply_to=middle)
    replies = [tweet(text=f"reply {n}", reply_to=focus) for n in range(2)]

    response = logged_in.get(f"/t/{focus.pk}/")

    assert cards(response) == [str(t.pk) for t in (root, middle, focus, *replies)]
    page = body(response)
    assert '<article class="card focus"' in page
    assert f'name="reply_to" value="{focus.pk}"' in page


def test_tweet_page_takes_a_constant_number_of_queries(logged_in, django_assert_max_num_queries):
    parent = tweet(text="root")
    focus = tweet(text="focus", reply_to=parent)
    tweet(text="reply", reply_to=focus)
    few = queries(logged_in, f"/t/{focus.pk}/")
    for n in range(10):
        parent = tweet(text=f"deeper {n}", reply_to=parent)
    focus = tweet(text="focus", reply_to=parent)
    for n in range(25):
        tweet(text=f"reply {n}", reply_to=focus)

    with django_assert_max_num_queries(few):
        response = logged_in.get(f"/t/{focus.pk}/")
    assert len(cards(response)) == 12 + settings.FEED_PAGE_SIZE


# --- Conversations ------------------------------------------------------------------


def test_replies_name_who_they_reply_to_on_cards_and_the_tweet_page(logged_in, followee):
    bob = UserFactory(username="bob")
    question = tweet(bob, "question?")
    answer = tweet(followee, "answer", reply_to=question)
    services.retweet_create(
        user=followee, tweet=tweet(bob, "a reply retweeted", reply_to=tweet(UserFactory(username="carol")))
    )
    replying_to = '<span aria-hidden="true">↩</span> Replying to <a href="/u/{}/">@{}</a>'

    home = body(logged_in.get("/following/"))
    page = body(logged_in.get(f"/t/{answer.pk}/"))

    assert replying_to.format("bob", "bob") in home
    assert replying_to.format("carol", "carol") in home  # a retweeted reply names its parent's author too
    assert "In reply to a tweet" not in home
    assert replying_to.format("bob", "bob") in page

    # "For you" hydrates its ranked list by hand on PostgreSQL: the same line.
    ranked_feed_store(feed=RankedFeed(logged_in.user.pk, "v3", timezone.now(), [RankedItem(answer.pk, 1.0, ())]))
    assert replying_to.format("bob", "bob") in body(logged_in.get("/"))


def test_a_reply_lands_on_its_conversation_with_the_reply_in_view(logged_in, settings):
    parent = tweet(text="question?")
    earlier = [tweet(text=f"reply {n}", reply_to=parent) for n in range(settings.FEED_PAGE_SIZE)]
    services.tweet_delete(tweet=earlier[0], by=earlier[0].author)  # not shown: not counted

    first = logged_in.post("/compose/", {"text": "my answer", "reply_to": parent.pk})
    mine = Tweet.objects.get(text="my answer")
    assert first["Location"] == f"/t/{parent.pk}/#t-{mine.pk}"  # the first page lists 20: 19 earlier, then mine
    assert cards(logged_in.get(first["Location"]))[-1] == str(mine.pk)

    second = logged_in.post("/compose/", {"text": "and more", "reply_to": parent.pk})
    more = Tweet.objects.get(text="and more")
    assert second["Location"] == f"/t/{parent.pk}/?page=2#t-{more.pk}"
    response = logged_in.get(second["Location"])
    assert cards(response)[-1] == str(more.pk)
    assert "Your reply was posted." in body(response)
    assert '<article class="card focus"' in body(response)  # the parent, above its replies


def test_the_reply_icon_leads_to_the_reply_box(logged_in, followee):
    posted = tweet(followee, "reply to me")

    home = body(logged_in.get("/following/"))
    page = body(logged_in.get(f"/t/{posted.pk}/"))

    assert f'<a class="action" href="/t/{posted.pk}/#reply" data-open>' in home
    # On the tweet's own page, straight to the box (app.js puts the cursor in it).
    assert '<a class="action" href="#reply">' in page
    assert '<form method="post" action="/compose/" class="compose" id="reply">' in page


def test_the_tweet_page_shows_the_full_date_and_time(logged_in):
    posted = tweet(text="when?")
    Tweet.objects.filter(pk=posted.pk).update(created_at=datetime(2026, 3, 4, 15, 7, tzinfo=UTC))

    page = body(logged_in.get(f"/t/{posted.pk}/"))

    assert '<p class="stamp"><time datetime="2026-03-04T15:07:00+00:00">3:07 PM UTC · March 4, 2026</time></p>' in page


def test_my_own_retweets_say_you_retweeted(logged_in, followee):
    services.retweet_create(user=logged_in.user, tweet=tweet(followee, "shared"))

    for url in ("/following/", f"/u/{logged_in.user.username}/"):
        assert '<span aria-hidden="true">⇄</span> You retweeted</p>' in body(logged_in.get(url))


def test_a_tweet_retweeted_by_several_people_is_one_card_saying_who(logged_in, followee):
    bob, dave = UserFactory(username="bob"), UserFactory(username="dave")
    follow(logged_in.user, bob, dave)
    original = tweet(followee, "worth sharing")
    services.retweet_create(user=bob, tweet=original)
    services.retweet_create(user=logged_in.user, tweet=original)
    latest = services.retweet_create(user=dave, tweet=original)
    tweet(followee, "newer")
    for _ in range(2):
        other = UserFactory()
        follow(logged_in.user, other)
        services.retweet_create(user=other, tweet=original)
        services.retweet_delete(user=other, tweet=original)  # undone: not counted

    response = logged_in.get("/following/")

    assert cards(response)[1:] == [str(latest.pk)]
    assert 'You, <a href="/u/dave/">@dave</a> and <a href="/u/bob/">@bob</a> retweeted' in body(response)
    services.retweet_create(user=UserFactory(username="erin"), tweet=original)  # not followed
    carl = UserFactory(username="carl")
    follow(logged_in.user, carl)
    services.retweet_create(user=carl, tweet=original)
    assert 'You, <a href="/u/carl/">@carl</a>, <a href="/u/dave/">@dave</a> and 1 other retweeted' in body(
        logged_in.get("/following/")
    )


def test_a_retweets_page_is_its_originals(logged_in):
    original = tweet(text="original")
    retweet = services.retweet_create(user=UserFactory(), tweet=original)

    response = logged_in.get(f"/t/{retweet.pk}/")

    assert response.status_code == 302
    assert response["Location"] == f"/t/{original.pk}/"


def test_missing_and_deleted_tweets_are_404(logged_in):
    gone = tweet(text="gone")
    services.tweet_delete(tweet=gone, by=gone.author)

    for url in (f"/t/{gone.pk}/", "/t/999999/", f"/t/{tweet().pk}/?page=9"):
        response = logged_in.get(url)
        assert response.status_code == 404
        assert "Page not found" in body(response)


@pytest.mark.parametrize(("template", "title"), [("400.html", "did not make sense"), ("500.html", "went wrong")])
def test_error_pages_render_without_a_request(template, title):
    # Django renders these two with no request and no context processors.
    assert title in render_to_string(template)


def test_hashtag_page_lists_tweets_with_the_tag_in_any_case(logged_in):
    tagged = tweet(text="big #News today")
    also = tweet(text="#news")
    tweet(text="#newsroom is another tag")

    assert cards(logged_in.get("/hashtag/news/")) == [str(also.pk), str(tagged.pk)]
    assert logged_in.get("/hashtag/not-a-tag/").status_code == 404


def test_hashtag_page_takes_a_constant_number_of_queries(logged_in, django_assert_max_num_queries):
    tweet(text="#news one")
    few = queries(logged_in, "/hashtag/news/")
    for n in range(25):
        services.retweet_create(user=UserFactory(), tweet=tweet(text=f"#news {n}"))

    with django_assert_max_num_queries(few):
        response = logged_in.get("/hashtag/news/")
    assert len(cards(response)) == settings.FEED_PAGE_SIZE


# --- Escaping and links --------------------------------------------------------------


def test_tweet_text_is_escaped_everywhere(logged_in, followee):
    posted = tweet(followee, XSS)

    for url in ("/following/", f"/t/{posted.pk}/", "/u/alice/"):
        page = body(logged_in.get(url))
        assert "<script>alert" not in page
        assert "<img src=x" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert 'href="javascript' not in page


def test_linkify_links_urls_mentions_and_hashtags():
    text = "Hi @bob_1, see https://example.com/a?b=1&c=2. #Django rocks (http://x.io) a@b.c"

    assert linkify(text, {"bob_1": "bob_1"}) == (
        'Hi <a href="/u/bob_1/">@bob_1</a>, see '
        '<a href="https://example.com/a?b=1&amp;c=2" rel="nofollow noopener" target="_blank">'
        "https://example.com/a?b=1&amp;c=2</a>. "
        '<a href="/hashtag/Django/">#Django</a> rocks '
        '(<a href="http://x.io" rel="nofollow noopener" target="_blank">http://x.io</a>) a@b.c'
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ('<img src=x onerror="alert(1)">', "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"),
        ("javascript:alert(1)", "javascript:alert(1)"),
        ("ftp://files.example", "ftp://files.example"),
        (
            'https://a.example/"onmouseover="alert(1)',
            '<a href="https://a.example/" rel="nofollow noopener" target="_blank">https://a.example/</a>'
            "&quot;onmouseover=&quot;alert(1)",
        ),
        ("@<b>x</b>", "@&lt;b&gt;x&lt;/b&gt;"),
    ],
)
def test_linkify_escapes_everything_it_does_not_link(text, expected):
    assert linkify(text) == expected


def test_linkify_output_is_not_escaped_twice_in_templates():
    rendered = Template("{% load tweets %}{{ text|linkify }}").render(Context({"text": "a < #b"}))

    assert rendered == 'a &lt; <a href="/hashtag/b/">#b</a>'


@pytest.mark.parametrize(
    ("ago", "expected"),
    [(timedelta(seconds=5), "now"), (timedelta(minutes=5), "5m"), (timedelta(hours=3), "3h")],
)
def test_age_is_compact(ago, expected):
    assert age(timezone.now() - ago) == expected


def test_age_of_an_older_tweet_is_its_date():
    moment = timezone.now() - timedelta(days=400)

    assert age(moment) == f"{moment:%b} {moment.day}, {moment.year}"


def test_an_empty_feed_asks_to_follow_only_someone_who_follows_nobody(logged_in):
    assert b"Follow a few to get started" in logged_in.get("/").content
    follow(logged_in.user, UserFactory())

    page = logged_in.get("/following/").content
    assert b"Follow a few" not in page
    assert b"Nothing new" in page


def test_a_ranked_feed_read_to_its_end_says_all_caught_up(logged_in, followee):
    posted = tweet(followee, "the only one")
    ranked_feed_store(feed=RankedFeed(logged_in.user.pk, "v1", timezone.now(), [RankedItem(posted.pk, 1.0, ())]))

    page = logged_in.get("/").content.decode()

    assert "the only one" in page
    assert "all caught up" in page and 'href="/following/"' in page
    assert "Follow a few" not in page and "Nothing new" not in page


@pytest.mark.parametrize(
    "text",
    ["\u200b\u2060\ufeff", "\u00a0\u3000", "clear \x1b[2J screen", "tab\tstop"],
    ids=["zero-width", "spaces", "escape", "tab"],
)
def test_the_compose_page_refuses_invisible_text_and_control_characters(logged_in, text):
    response = logged_in.post("/compose/", {"text": text})

    assert response.status_code == 400
    assert "A tweet needs some" in body(response) or "control character" in body(response)
    assert not Tweet.objects.exists()


def test_the_compose_page_keeps_line_breaks(logged_in):
    logged_in.post("/compose/", {"text": "one\r\ntwo"})

    assert Tweet.objects.get().text == "one\ntwo"


def signed_cursor(payload) -> str:
    return signing.dumps(payload, salt=CURSOR_SALT, compress=True)


@pytest.mark.parametrize("url", ["/", "/following/"])
@pytest.mark.parametrize(
    "cursor",
    [
        lambda own: signed_cursor([str(own), 2**31, "2025-01-01T00:00:00+00:00", 1, None]),
        lambda own: signed_cursor([str(own), 20, "2025-01-01T00:00:00-23:59", 1, None]),
        lambda own: base64.urlsafe_b64encode(
            json.dumps([str(own), 20, "2025-01-01T00:00:00+00:00", 1]).encode()
        ).decode(),
    ],
    ids=["position 2**31", "offset -23:59", "unsigned"],
)
def test_a_cursor_out_of_bounds_or_unsigned_is_a_400_page(logged_in, url, cursor):
    own = services.feed_request_create(user=logged_in.user, mode="latest").pk

    response = logged_in.get(url, {"cursor": cursor(own)})

    assert response.status_code == 400
    assert "did not make sense" in body(response)
    assert FeedRequest.objects.count() == 1


def test_newer_takes_an_offset_postgresql_cannot_hold(logged_in):
    assert logged_in.get("/feed/newer/", {"since": "2026-01-01T00:00:00-23:59"}).json() == {"newer": False}


def test_the_compose_page_takes_reply_to_as_an_integer_id_only(logged_in):
    parent = tweet(text="the parent")

    response = logged_in.post("/compose/", {"text": "a reply", "reply_to": f"{parent.pk}.5"})

    assert response.status_code == 400
    assert Tweet.objects.count() == 1
