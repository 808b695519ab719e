import re

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from feed import services as feed_services
from tests.factories import PASSWORD, UserFactory, follow, tweet
from users.models import User

pytestmark = pytest.mark.django_db

STRONG_PASSWORD = "blue-lantern-harbor-42"


def body(response) -> str:
    return response.content.decode()


def queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


# --- Sign up, log in, log out -----------------------------------------------------------


def test_sign_up_creates_the_account_and_logs_in(client):
    assert client.get("/signup/").status_code == 200

    response = client.post("/signup/", {"username": "newbie", "display_name": "New Bie", "password": STRONG_PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == "/"
    user = User.objects.get(username="newbie")
    assert (user.display_name, user.check_password(STRONG_PASSWORD)) == ("New Bie", True)
    assert int(client.session["_auth_user_id"]) == user.pk


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"username": "taken", "password": STRONG_PASSWORD}, "already exists"),
        ({"username": "newbie", "password": "12345678"}, "too common"),
        ({"username": "new bie!", "password": STRONG_PASSWORD}, "Letters, digits and underscore only"),
        ({"username": "", "password": STRONG_PASSWORD}, "This field is required"),
        ({"username": "newbie", "password": STRONG_PASSWORD, "display_name": "x" * 51}, "at most 50"),
    ],
)
def test_bad_sign_ups_come_back_with_errors_and_create_nobody(client, data, error):
    UserFactory(username="taken")

    response = client.post("/signup/", data)

    assert response.status_code == 400
    assert error in body(response)
    assert list(User.objects.values_list("username", flat=True)) == ["taken"]
    assert "_auth_user_id" not in client.session


def test_sign_up_needs_the_csrf_token():
    client = Client(enforce_csrf_checks=True)

    assert client.post("/signup/", {"username": "forged", "password": STRONG_PASSWORD}).status_code == 403
    assert not User.objects.exists()


def test_logged_in_people_skip_sign_up_and_log_in(logged_in):
    assert logged_in.get("/signup/")["Location"] == "/"
    assert logged_in.get("/login/")["Location"] == "/"


def test_log_in_and_log_out_by_post(client, user):
    assert 'action="/login/"' in body(client.get("/login/?next=/following/"))

    response = client.post("/login/", {"username": user.username, "password": PASSWORD, "next": "/following/"})
    assert response["Location"] == "/following/"

    assert client.get("/logout/").status_code == 405
    assert client.post("/logout/")["Location"] == "/"
    assert "_auth_user_id" not in client.session


def test_a_wrong_password_does_not_log_in(client, user):
    response = client.post("/login/", {"username": user.username, "password": "wrong"})

    assert "Please enter a correct username and password" in body(response)
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("url", ["/u/someone/", "/u/someone/followers/", "/u/someone/following/"])
def test_profiles_are_public_without_follow_buttons(client, url):
    someone, fan = UserFactory(username="someone"), UserFactory(username="fan")
    follow(fan, someone)
    follow(someone, fan)

    response = client.get(url)

    assert response.status_code == 200
    assert "@someone" in body(response)
    assert 'data-action="follow"' not in body(response)


# --- Profile ---------------------------------------------------------------------------


def test_profile_shows_who_they_are_their_counts_and_tweets(logged_in):
    alice = UserFactory(username="alice", display_name="Alice <b>A.</b>", bio="Gardener & #plants")
    follow(alice, UserFactory())
    follow(logged_in.user, alice)
    posts = [tweet(alice, f"post {n}") for n in range(3)]
    retweet = feed_services.retweet_create(user=alice, tweet=tweet(text="shared"))

    response = logged_in.get("/u/alice/")

    page = body(response)
    assert "Alice &lt;b&gt;A.&lt;/b&gt;" in page
    assert "Gardener &amp; #plants" in page
    assert "<strong>4</strong> posts" in page
    assert '<strong data-followers="alice">1</strong> followers' in page
    assert "<strong>1</strong> following" in page
    assert 'data-username="alice" aria-pressed="true"><span class="label">Following' in page
    ids = re.findall(r'<article class="card[^"]*" id="t-(\d+)"', page)
    assert ids == [str(t.pk) for t in (retweet, *reversed(posts))]
    assert "Who to follow" in page


def test_my_own_profile_has_no_follow_button(logged_in):
    page = body(logged_in.get(f"/u/{logged_in.user.username}/"))

    assert f'data-username="{logged_in.user.username}"' not in page


def test_profile_tweets_come_a_page_at_a_time(logged_in, settings):
    settings.FEED_PAGE_SIZE = 2
    author = UserFactory(username="alice")
    for n in range(3):
        tweet(author, f"post {n}")

    assert 'href="?page=2"' in body(logged_in.get("/u/alice/"))
    fragment = logged_in.get("/u/alice/?page=2", headers={"X-Fragment": "1"})
    assert body(fragment).count("<article") == 1
    assert "<html" not in body(fragment)
    assert 'class="more"' not in body(fragment)
    assert logged_in.get("/u/alice/?page=3").status_code == 404
    assert logged_in.get("/u/alice/?page=x").status_code == 404


def test_unknown_and_inactive_profiles_are_404(logged_in):
    UserFactory(username="gone", is_active=False)

    for url in ("/u/nobody/", "/u/gone/", "/u/gone/followers/", "/u/nobody/following/"):
        assert logged_in.get(url).status_code == 404


def test_profile_takes_a_constant_number_of_queries(logged_in, django_assert_max_num_queries):
    alice = UserFactory(username="alice")
    tweet(alice, "one")
    few = queries(logged_in, "/u/alice/")
    for n in range(25):
        fan = UserFactory()
        follow(fan, alice)
        follow(logged_in.user, fan)
        # Replies among them: the cards name whom they answer, in the same query.
        parent = tweet(UserFactory(), "parent") if n % 2 else None
        feed_services.retweet_create(user=alice, tweet=tweet(fan, f"by fan {n}", reply_to=parent))

    with django_assert_max_num_queries(few):
        response = logged_in.get("/u/alice/")
    assert "Replying to <a" in body(response)
    assert body(response).count("<article") == settings.FEED_PAGE_SIZE


# --- Followers and following ---------------------------------------------------------------


def test_followers_and_following_lists_newest_first(logged_in):
    alice = UserFactory(username="alice")
    fans = [UserFactory(username=f"fan{n}") for n in range(3)]
    for fan in fans:
        follow(fan, alice)
    follow(alice, fans[0])
    follow(logged_in.user, fans[1])

    followers = body(logged_in.get("/u/alice/followers/"))
    following = body(logged_in.get("/u/alice/following/"))

    assert re.findall(r'data-username="(fan\d)"', followers) == ["fan2", "fan1", "fan0"]
    assert 'data-username="fan1" aria-pressed="true"' in followers
    assert re.findall(r'data-username="(fan\d)"', following) == ["fan0"]
    assert 'aria-current="page">Followers' in followers


def test_empty_lists_say_so(logged_in):
    UserFactory(username="alice")

    assert "No followers yet." in body(logged_in.get("/u/alice/followers/"))
    assert "Not following anyone yet." in body(logged_in.get("/u/alice/following/"))


@pytest.mark.parametrize("relation", ["followers", "following"])
def test_people_lists_take_a_constant_number_of_queries(logged_in, relation, django_assert_max_num_queries):
    alice = UserFactory(username="alice")

    def connect(person):
        if relation == "followers":
            follow(person, alice)
        else:
            follow(alice, person)

    connect(UserFactory())
    few = queries(logged_in, f"/u/alice/{relation}/")
    for _ in range(25):
        person = UserFactory()
        connect(person)
        follow(person, UserFactory())

    with django_assert_max_num_queries(few):
        response = logged_in.get(f"/u/alice/{relation}/")
    assert body(response).count('class="person"') == settings.FEED_PAGE_SIZE
