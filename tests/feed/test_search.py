"""Search: people by a prefix of their username or display name, tweets by
words (PostgreSQL full-text search on a GIN index), newest first, cursor
pages; an empty or over-long query is a 400; each page a constant number of
queries."""

import pytest
from django.db import connection
from rest_framework.test import APIClient

from feed.selectors import tweets_search
from feed.services import tweet_delete
from tests.factories import UserFactory, follow, tweet
from users.selectors import users_search

pytestmark = pytest.mark.django_db


def names(response) -> list[str]:
    return [person["username"] for person in response.json()["results"]]


def texts(response) -> list[str]:
    return [found["text"] for found in response.json()["results"]]


def test_people_by_username_or_display_name_prefix_most_followed_first(api):
    alice = UserFactory(username="alice", display_name="Alice Liddell")
    UserFactory(username="alfred", display_name="Alfred")
    UserFactory(username="zed", display_name="Ali Baba")
    UserFactory(username="bob", display_name="Bob Alison")  # "Alison" is not a prefix of the name
    UserFactory(username="malice", display_name="")
    follow(UserFactory(username="fan"), alice)

    response = api.get("/api/search/", {"q": "ALI", "type": "users"})

    assert response.status_code == 200
    assert names(response) == ["alice", "zed"]
    assert names(api.get("/api/search/", {"q": "@al", "type": "users"})) == ["alice", "alfred", "zed"]


def test_people_results_are_profiles_with_the_viewer_s_follow_state(api_for):
    viewer, carol = UserFactory(username="viewer"), UserFactory(username="carol")
    follow(viewer, carol)

    person = api_for(viewer).get("/api/search/", {"q": "car", "type": "users"}).json()["results"][0]

    assert (person["username"], person["is_following"], person["followers_count"]) == ("carol", True, 1)


def test_an_underscore_in_the_query_is_a_character_not_a_wildcard(api):
    UserFactory(username="a_b")
    UserFactory(username="axb")

    assert names(api.get("/api/search/", {"q": "a_", "type": "users"})) == ["a_b"]


def test_tweets_by_words_newest_first_without_retweets_or_deleted_ones(api):
    author = UserFactory()
    older = tweet(author, "Cats are running in the garden")
    newer = tweet(author, "the cat ran to the garden, again")
    tweet(author, "dogs in the garden")
    gone = tweet(author, "a cat in the garden, deleted")
    tweet_delete(tweet=gone, by=author)
    from feed.services import retweet_create

    retweet_create(user=UserFactory(), tweet=older)

    response = api.get("/api/search/", {"q": "cat garden", "type": "tweets"})

    assert response.status_code == 200
    # Full-text search: stems ("cats", "running") match, stop words do not count.
    assert [found["id"] for found in response.json()["results"]] == [newer.pk, older.pk]
    assert texts(api.get("/api/search/", {"q": '"cat ran"'})) == [newer.text]
    assert texts(api.get("/api/search/", {"q": "garden -dogs -cat"})) == []


def test_a_tweets_search_pages_on_a_cursor(api, settings):
    author = UserFactory()
    made = [tweet(author, f"pages of words {n}") for n in range(25)]

    first = api.get("/api/search/", {"q": "words"}).json()
    second = api.get(first["next"]).json()

    assert [t["id"] for t in first["results"] + second["results"]] == [t.pk for t in reversed(made)]
    assert second["next"] is None


def test_a_people_search_pages_on_a_cursor(api):
    people = [UserFactory(username=f"sam{n:02}") for n in range(25)]

    first = api.get("/api/search/", {"q": "sam", "type": "users"}).json()
    second = api.get(first["next"]).json()

    assert sorted(p["username"] for p in first["results"] + second["results"]) == [p.username for p in people]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"q": ""},
        {"q": "   "},
        {"q": "x" * 101},
        {"q": "ok", "type": "hashtags"},
        {"q": "a\x00b"},
    ],
)
def test_a_bad_query_is_a_400_naming_the_field(api, params):
    response = api.get("/api/search/", params)

    assert response.status_code == 400
    assert set(response.json()) <= {"q", "type"}


@pytest.mark.parametrize("q", ["x" * 100, "!!!", "'", "a & b | !c", "(", "\\", "-", '"', "or", "the", "☃", "@"])
@pytest.mark.parametrize("kind", ["users", "tweets"])
def test_odd_queries_are_answered_not_500(api, q, kind):
    tweet(UserFactory(), "something")

    assert api.get("/api/search/", {"q": q, "type": kind}).status_code == 200


def test_a_bad_cursor_is_a_404(api):
    assert api.get("/api/search/", {"q": "word", "cursor": "nonsense"}).status_code == 404


@pytest.mark.parametrize(("kind", "found"), [("users", 15), ("tweets", 20)])
def test_a_search_page_takes_one_query(api_for, django_assert_num_queries, kind, found):
    viewer = UserFactory()
    for n in range(15):
        person = UserFactory(username=f"word{n}")
        follow(viewer, person)
        original = tweet(person, f"word number {n}")
        tweet(UserFactory(), f"a reply with a word {n}", reply_to=original)
    client = api_for(viewer)

    with django_assert_num_queries(1):
        assert len(client.get("/api/search/", {"q": "word", "type": kind}).json()["results"]) == found


def test_the_tweets_search_uses_the_gin_index():
    author = UserFactory()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO feed_tweet (author_id, text, created_at, like_count, reply_count, retweet_count) "
            "SELECT %s, 'filler ' || g || ' ' || md5(g::text), now(), 0, 0, 0 FROM generate_series(1, 5000) g",
            [author.pk],
        )
        cursor.execute("ANALYZE feed_tweet")

    plan = tweets_search(viewer=None, query="needle").order_by("-created_at", "-pk")[:20].explain()

    assert "tweet_text_search_idx" in plan


def test_the_people_search_uses_the_prefix_indexes():
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO users_user (password, is_superuser, username, first_name, last_name, email, is_staff, "
            "is_active, date_joined, display_name, bio, follower_count) "
            "SELECT '!', false, 'u' || g, '', '', '', false, true, now(), 'Name ' || g, '', 0 "
            "FROM generate_series(1, 5000) g"
        )
        cursor.execute("ANALYZE users_user")

    plan = users_search(viewer=None, query="u12").explain()

    assert "user_username_prefix_idx" in plan
    assert "user_display_name_prefix_idx" in plan


# --- The page -----------------------------------------------------------------------


def test_the_search_page_shows_people_then_tweets_with_follow_buttons(logged_in):
    ada = UserFactory(username="ada", display_name="Ada Lovelace")
    tweet(ada, "the analytical engine weaves algebraic patterns")
    tweet(UserFactory(username="other"), "Ada wrote about the engine")

    response = logged_in.get("/search/", {"q": "ada"})

    page = response.content.decode()
    assert response.status_code == 200
    assert page.index('href="/u/ada/"') < page.index("Ada wrote about the engine")
    assert 'data-action="follow" data-username="ada"' in page
    assert "the analytical engine" not in page  # it does not say "ada"


def test_the_search_page_lists_all_people_with_type_users(logged_in):
    for n in range(5):
        UserFactory(username=f"grace{n}")

    one = logged_in.get("/search/", {"q": "grace"}).content.decode()
    everyone = logged_in.get("/search/", {"q": "grace", "type": "users"}).content.decode()

    assert one.count('class="person"') == 3
    assert "All people named" in one
    assert everyone.count('class="person"') == 5


def test_the_search_page_reads_logged_out_without_buttons(client):
    tweet(UserFactory(username="ada"), "hello engine")

    page = client.get("/search/", {"q": "engine"}).content.decode()

    assert "hello engine" in page
    assert 'data-action="' not in page


def test_the_search_page_without_a_query_is_the_form_and_a_long_one_a_400(client):
    assert client.get("/search/").status_code == 200
    response = client.get("/search/", {"q": "x" * 101})
    assert response.status_code == 400
    assert "at most 100 characters" in response.content.decode()


def test_every_page_has_the_search_box(client, logged_in):
    assert 'action="/search/"' in client.get("/").content.decode()
    assert 'action="/search/"' in logged_in.get("/").content.decode()


def test_the_search_page_takes_a_constant_number_of_queries(logged_in, django_assert_max_num_queries):
    for n in range(12):
        tweet(UserFactory(username=f"word{n}"), f"word number {n} @word{n + 1}")

    with django_assert_max_num_queries(8):
        assert logged_in.get("/search/", {"q": "word"}).status_code == 200


def test_api_search_is_public(api):
    assert APIClient().get("/api/search/", {"q": "x"}).status_code == 200
