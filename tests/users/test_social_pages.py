"""The pages of mute, block, muted words and notifications."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from feed import services as feed_services
from tests.factories import UserFactory, follow, tweet
from users import services
from users.models import Block, Mute, MutedWord

pytestmark = pytest.mark.django_db


def test_profile_mute_and_block_buttons_round_trip(logged_in):
    bob = UserFactory(username="bob")
    page = logged_in.get("/u/bob/").content.decode()
    assert 'value="mute"' in page and 'value="block"' in page

    response = logged_in.post("/u/bob/relation/", {"action": "mute"})
    assert response.status_code == 302 and response["Location"] == "/u/bob/"
    assert Mute.objects.filter(user=logged_in.user, muted=bob).exists()
    page = logged_in.get("/u/bob/").content.decode()
    assert 'value="unmute"' in page and "You muted @bob" in page

    logged_in.post("/u/bob/relation/", {"action": "block"})
    assert Block.objects.filter(user=logged_in.user, blocked=bob).exists()
    # The blocker still sees the profile, to unblock, and no Follow button.
    page = logged_in.get("/u/bob/").content.decode()
    assert 'value="unblock"' in page and 'data-username="bob"' not in page
    response = logged_in.post("/u/bob/relation/", {"action": "unblock", "next": "settings"})
    assert response["Location"] == "/settings/muted/"
    logged_in.post("/u/bob/relation/", {"action": "unmute"})
    assert not Block.objects.exists() and not Mute.objects.exists()


def test_own_profile_links_the_settings_instead(logged_in):
    page = logged_in.get(f"/u/{logged_in.user.username}/").content.decode()
    assert "/settings/muted/" in page and 'value="mute"' not in page


@pytest.mark.parametrize("body", [{}, {"action": "explode"}])
def test_a_bad_relation_action_is_a_400_and_writes_nothing(logged_in, body):
    UserFactory(username="bob")
    assert logged_in.post("/u/bob/relation/", body).status_code == 400
    assert not Mute.objects.exists() and not Block.objects.exists()


def test_relation_actions_need_a_post_a_login_and_someone(client, logged_in):
    UserFactory(username="bob")
    assert logged_in.get("/u/bob/relation/").status_code == 405
    assert logged_in.post("/u/nobody/relation/", {"action": "mute"}).status_code == 404
    client.logout()
    assert client.post("/u/bob/relation/", {"action": "mute"}).status_code == 302  # to log in
    assert not Mute.objects.exists()


def test_blocking_yourself_by_the_page_says_why(logged_in):
    me = logged_in.user.username
    response = logged_in.post(f"/u/{me}/relation/", {"action": "block"}, follow=True)
    assert "You cannot block yourself." in response.content.decode()
    assert not Block.objects.exists()


def test_muted_words_page_adds_and_removes(logged_in):
    response = logged_in.post("/settings/muted/", {"word": "#Spoilers"})
    assert response.status_code == 302
    word = MutedWord.objects.get()
    assert word.word == "spoilers"
    assert "spoilers" in logged_in.get("/settings/muted/").content.decode()

    logged_in.post("/settings/muted/", {"remove": str(word.pk)})
    assert not MutedWord.objects.exists()


@pytest.mark.parametrize("body", [{"word": "two words"}, {"word": ""}, {"word": "x" * 61}, {}])
def test_a_bad_muted_word_on_the_page_is_a_400_with_the_form(logged_in, body):
    response = logged_in.post("/settings/muted/", body)
    assert response.status_code == 400
    assert 'class="errors"' in response.content.decode()
    assert not MutedWord.objects.exists()


def test_removing_a_muted_word_that_is_not_a_number_is_a_400(logged_in):
    assert logged_in.post("/settings/muted/", {"remove": "x"}).status_code == 400


def test_the_settings_list_muted_and_blocked_people(logged_in):
    muted, blocked = UserFactory(username="mutey"), UserFactory(username="blocky")
    services.mute_create(user=logged_in.user, muted=muted)
    services.block_create(user=logged_in.user, blocked=blocked)
    page = logged_in.get("/settings/muted/").content.decode()
    assert "@mutey" in page and "@blocky" in page


def test_the_bell_costs_one_query_a_page(logged_in):
    follow(UserFactory(), logged_in.user)
    with CaptureQueriesContext(connection) as queries:
        page = logged_in.get("/following/").content.decode()
    assert "data-unread>1<" in page
    assert sum("users_notification" in q["sql"] for q in queries.captured_queries) == 1


def test_the_notifications_page_groups_and_links_the_tweet(logged_in):
    post = tweet(logged_in.user, "my tweet")
    for liker in UserFactory.create_batch(3):
        feed_services.like_create(user=liker, tweet=post)
    page = logged_in.get("/notifications/").content.decode()
    assert "and 2 others" in page and "liked your tweet" in page
    assert f'href="/t/{post.pk}/"' in page
    assert logged_in.get("/notifications/?page=9").status_code == 404


def test_the_muted_words_page_answers_the_write_limit_with_a_429(logged_in, settings):
    settings.WRITE_RATE = "1/min"
    assert logged_in.post("/settings/muted/", {"word": "one"}).status_code == 302
    response = logged_in.post("/settings/muted/", {"word": "two"})
    assert response.status_code == 429
    assert "Retry-After" in response
    assert list(MutedWord.objects.values_list("word", flat=True)) == ["one"]
