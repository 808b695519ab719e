import pytest
from rest_framework.authtoken.models import Token

from tests.factories import PASSWORD, UserFactory, follow, tweet
from users import api as users_api
from users.models import Follow, User

pytestmark = pytest.mark.django_db

STRONG_PASSWORD = "blue-lantern-harbor-42"


# --- Registration and tokens ---------------------------------------------------


def test_register_creates_user_and_token(api):
    response = api.post(
        "/api/auth/register/",
        {"username": "alice", "password": STRONG_PASSWORD, "display_name": "Alice A."},
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    user = User.objects.get(username="alice")
    assert body == {"id": user.pk, "username": "alice", "token": Token.objects.get(user=user).key}
    assert user.display_name == "Alice A."
    assert user.check_password(STRONG_PASSWORD)


def test_register_token_authenticates(api):
    token = api.post("/api/auth/register/", {"username": "alice", "password": STRONG_PASSWORD}).json()["token"]

    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = api.post("/api/tweets/", {"text": "first"}, format="json")

    assert response.status_code == 201
    assert response.json()["author"]["username"] == "alice"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"username": "taken", "password": STRONG_PASSWORD}, "username"),
        ({"username": "bob", "password": "123"}, "password"),
        ({"username": "bob", "password": "password"}, "password"),
        ({"username": "bob"}, "password"),
        ({"password": STRONG_PASSWORD}, "username"),
        ({"username": "not a name!", "password": STRONG_PASSWORD}, "username"),
        ({"username": "bob", "password": STRONG_PASSWORD, "display_name": "x" * 51}, "display_name"),
    ],
)
def test_register_rejects_bad_input_with_field_error(api, payload, field):
    UserFactory(username="taken")

    response = api.post("/api/auth/register/", payload, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert User.objects.count() == 1
    assert not Token.objects.exists()


def test_token_for_good_credentials(api, user):
    response = api.post("/api/auth/token/", {"username": user.username, "password": PASSWORD})

    assert response.status_code == 200
    assert response.json() == {"token": Token.objects.get(user=user).key}
    # Asking again hands out the same token.
    assert api.post("/api/auth/token/", {"username": user.username, "password": PASSWORD}).json() == response.json()


@pytest.mark.parametrize("password", ["wrong-password", ""])
def test_token_for_bad_credentials(api, user, password):
    response = api.post("/api/auth/token/", {"username": user.username, "password": password})

    assert response.status_code == 400
    assert "token" not in response.json()
    assert not Token.objects.exists()


# --- Profiles ------------------------------------------------------------------


def test_profile_counts_for_anonymous(api):
    alice, bob, carol = UserFactory.create_batch(3)
    follow(alice, bob, carol)
    follow(bob, alice)

    response = api.get(f"/api/users/{alice.username}/")

    assert response.status_code == 200
    assert response.json() == {
        "id": alice.pk,
        "username": alice.username,
        "display_name": alice.display_name,
        "bio": alice.bio,
        "avatar_url": f"/avatars/default/{alice.username}.svg",
        "followers_count": 1,
        "following_count": 2,
        "is_following": False,
    }


def test_profile_is_following_for_logged_in_viewer(user_api):
    followed, stranger = UserFactory.create_batch(2)
    follow(user_api.user, followed)

    assert user_api.get(f"/api/users/{followed.username}/").json()["is_following"] is True
    assert user_api.get(f"/api/users/{stranger.username}/").json()["is_following"] is False


def test_profile_unknown_or_inactive_user_is_404(api):
    inactive = UserFactory(is_active=False)

    assert api.get("/api/users/nobody/").status_code == 404
    assert api.get(f"/api/users/{inactive.username}/").status_code == 404


# --- Follow --------------------------------------------------------------------


def test_follow_and_unfollow_are_idempotent(user_api):
    target = UserFactory()
    url = f"/api/users/{target.username}/follow/"

    first = user_api.post(url)
    second = user_api.post(url)

    assert first.status_code == second.status_code == 201
    assert second.json()["is_following"] is True
    assert second.json()["followers_count"] == 1
    assert Follow.objects.filter(follower=user_api.user, followee=target).count() == 1

    assert user_api.delete(url).status_code == 204
    assert user_api.delete(url).status_code == 204
    assert not Follow.objects.exists()


def test_follow_self_is_400(user_api):
    response = user_api.post(f"/api/users/{user_api.user.username}/follow/")

    assert response.status_code == 400
    assert "username" in response.json()
    assert not Follow.objects.exists()


@pytest.mark.parametrize("method", ["post", "delete"])
def test_follow_unknown_user_is_404(user_api, method):
    assert getattr(user_api, method)("/api/users/nobody/follow/").status_code == 404


@pytest.mark.parametrize("method", ["post", "delete"])
def test_follow_needs_authentication(api, method):
    target = UserFactory()

    assert getattr(api, method)(f"/api/users/{target.username}/follow/").status_code == 401
    assert not Follow.objects.exists()


# --- Lists ---------------------------------------------------------------------


def usernames(response):
    return [row["username"] for row in response.json()["results"]]


def walk(client, url):
    """Every page of a cursor-paginated list, following `next`."""
    pages = []
    while url:
        response = client.get(url)
        assert response.status_code == 200
        pages.append(usernames(response))
        url = response.json()["next"]
    return pages


@pytest.fixture
def small_pages(monkeypatch):
    monkeypatch.setattr(users_api.FollowPagination, "page_size", 2)


def test_followers_newest_first_across_pages(api, small_pages):
    star = UserFactory()
    fans = UserFactory.create_batch(3)
    elsewhere = UserFactory()
    for fan in fans:
        # Following someone else too must not duplicate a fan in the list.
        follow(fan, elsewhere, star)

    pages = walk(api, f"/api/users/{star.username}/followers/")

    assert pages == [[fans[2].username, fans[1].username], [fans[0].username]]


def test_following_newest_first_across_pages(api, small_pages):
    fan = UserFactory()
    stars = UserFactory.create_batch(3)
    follow(fan, *stars)
    follow(stars[0], stars[1])

    pages = walk(api, f"/api/users/{fan.username}/following/")

    assert pages == [[stars[2].username, stars[1].username], [stars[0].username]]


@pytest.mark.parametrize("kind", ["followers", "following", "tweets"])
def test_lists_of_unknown_user_are_404(api, kind):
    assert api.get(f"/api/users/nobody/{kind}/").status_code == 404


def test_user_tweets_newest_first_with_viewer_state(user_api, monkeypatch):
    from config.api import CreatedAtCursorPagination

    monkeypatch.setattr(CreatedAtCursorPagination, "page_size", 2)
    author = UserFactory()
    first = tweet(author, "first")
    second = tweet(author, "second")
    third = tweet(author, "third")
    tweet(UserFactory(), "someone else's")
    user_api.post(f"/api/tweets/{second.pk}/like/")

    response = user_api.get(f"/api/users/{author.username}/tweets/")
    rest = user_api.get(response.json()["next"])

    assert [(t["id"], t["liked"]) for t in response.json()["results"]] == [(third.pk, False), (second.pk, True)]
    assert [t["id"] for t in rest.json()["results"]] == [first.pk]
    assert rest.json()["next"] is None
