"""@mentions link only people who exist, looked up for a whole page in one
query; a remote-looking `@a@b.c` or an e-mail address links no one."""

import pytest
from django.db import connection
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext

from feed.templatetags.tweets import linkify
from tests.factories import UserFactory, follow, tweet
from users.selectors import usernames_existing

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hi @alice!", 'hi <a href="/u/alice/">@alice</a>!'),
        ("hi @ALICE.", 'hi <a href="/u/alice/">@ALICE</a>.'),
        ("(@alice)", '(<a href="/u/alice/">@alice</a>)'),
        ("@a@b.c", "@a@b.c"),
        ("@alice@mastodon.social", "@alice@mastodon.social"),
        ("mail alice@example.com", "mail alice@example.com"),
        ("@nobody here", "@nobody here"),
        ("@alice_ and @alicex", "@alice_ and @alicex"),
        ("@" + "a" * 31, "@" + "a" * 31),
        ("@alicé", "@alicé"),
    ],
)
def test_linkify_links_mentions_of_the_people_given_only(text, expected):
    assert linkify(text, {"alice": "alice", "a": "a"}) == expected


def test_usernames_existing_answers_in_any_case_in_one_query(django_assert_num_queries):
    UserFactory(username="Alice")
    UserFactory(username="bob", is_active=False)

    with django_assert_num_queries(1):
        assert usernames_existing(names=["ALICE", "alice", "bob", "carol"]) == {"alice": "Alice"}
    with django_assert_num_queries(0):
        assert usernames_existing(names=[]) == {}


def test_a_card_links_a_mention_only_when_the_person_exists(logged_in):
    UserFactory(username="Alice")
    posted = tweet(logged_in.user, "hi @alice and @ghost, mail a@b.c or @a@b.c")

    page = logged_in.get(f"/t/{posted.pk}/").content.decode()

    assert 'hi <a href="/u/Alice/">@alice</a> and @ghost, mail a@b.c or @a@b.c' in page
    assert "/u/ghost/" not in page
    assert "/u/a/" not in page


def test_mention_links_in_the_api_free_templates_need_the_people(logged_in):
    UserFactory(username="alice")
    rendered = Template("{% load tweets %}{{ text|linkify }}").render(Context({"text": "@alice"}))

    assert rendered == "@alice"


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.mark.parametrize("url", ["/following/", "/u/{author}/", "/hashtag/news/"])
def test_mentions_are_looked_up_in_one_query_for_the_whole_page(logged_in, url):
    author = UserFactory(username="author")
    follow(logged_in.user, author)
    people = [UserFactory(username=f"person{n}") for n in range(6)]
    tweet(author, f"#news hello @{people[0].username}")
    url = url.format(author=author.username)
    logged_in.get(url)  # the first feed read of a session writes a little more
    one = _queries(logged_in, url)

    for person in people[1:]:
        tweet(author, f"#news hello @{person.username} and @ghost{person.pk}")

    assert _queries(logged_in, url) == one


def test_a_tweet_page_looks_mentions_up_once_for_its_conversation_and_replies(logged_in):
    people = [UserFactory(username=f"person{n}") for n in range(4)]
    root = tweet(logged_in.user, f"@{people[0].username} root")
    middle = tweet(logged_in.user, f"@{people[1].username} middle", reply_to=root)
    tweet(logged_in.user, f"@{people[2].username} reply", reply_to=middle)
    tweet(logged_in.user, f"@{people[3].username} another", reply_to=middle)

    with CaptureQueriesContext(connection) as captured:
        page = logged_in.get(f"/t/{middle.pk}/").content.decode()

    lookups = [query["sql"] for query in captured if 'LOWER("users_user"."username")' in query["sql"]]
    assert len(lookups) == 1
    for person in people:
        assert f'<a href="/u/{person.username}/">@{person.username}</a>' in page
