"""In Chromium: a mention rings the bell, a muted word leaves both feeds, a
block removes someone."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import leave_by, screenshot
from tests.factories import UserFactory, follow, tweet
from users.models import Block, Follow, MutedWord

pytestmark = pytest.mark.slow

PHONE, DESKTOP = {"width": 390, "height": 844}, {"width": 1100, "height": 800}


@pytest.fixture
def alice():
    return UserFactory(username="alice", display_name="Alice Liddell")


@pytest.fixture
def bob():
    return UserFactory(username="bob", display_name="Bob Builder")


def test_receive_a_mention_and_see_the_bell_count(page, log_in, alice, bob):
    tweet(bob, "Lunch, @alice?")
    log_in(alice)

    page.goto("/following/")
    bell = page.locator("[data-bell]")
    expect(bell.locator("[data-unread]")).to_have_text("1")

    leave_by(bell)
    line = page.locator(".notification", has_text="mentioned you")
    expect(line).to_contain_text("Bob Builder")
    expect(line).to_contain_text("Lunch, @alice?")
    expect(line).to_have_class("notification unread")
    screenshot(page, "notifications")
    page.set_viewport_size(PHONE)
    screenshot(page, "notifications-phone")
    page.set_viewport_size(DESKTOP)

    # Seen: the bell goes quiet.
    page.goto("/following/")
    expect(page.locator("[data-bell]")).to_be_visible()
    expect(page.locator("[data-bell] [data-unread]")).to_have_count(0)


def test_mute_a_word_and_see_it_gone_from_both_feeds(page, log_in, alice, bob):
    follow(alice, bob)
    tweet(bob, "Huge #Spoilers for the finale")
    tweet(bob, "What a nice day")
    log_in(alice)
    for url in ("/", "/following/"):
        page.goto(url)
        expect(page.locator(".card", has_text="finale")).to_have_count(1)

    page.goto("/settings/muted/")
    page.get_by_label("Mute a word").fill("spoilers")
    leave_by(page.get_by_role("button", name="Mute", exact=True))
    expect(page.locator("[data-muted-words]")).to_contain_text("spoilers")
    assert list(MutedWord.objects.filter(user=alice).values_list("word", flat=True)) == ["spoilers"]
    screenshot(page, "muted-words")
    page.set_viewport_size(PHONE)
    screenshot(page, "muted-words-phone")
    page.set_viewport_size(DESKTOP)

    for url in ("/", "/following/"):
        page.goto(url)
        expect(page.locator(".card", has_text="nice day")).to_have_count(1)
        expect(page.locator(".card", has_text="finale")).to_have_count(0)


def test_block_someone_and_see_them_gone(page, log_in, alice, bob):
    follow(alice, bob)
    follow(bob, alice)
    tweet(bob, "Bob was here")
    log_in(alice)
    page.goto("/following/")
    expect(page.locator(".card", has_text="Bob was here")).to_have_count(1)

    page.goto("/u/bob/")
    leave_by(page.get_by_role("button", name="Block @bob"))
    expect(page.get_by_text("You blocked @bob")).to_have_count(2)  # the message and the note
    expect(page.get_by_role("button", name="Unblock @bob")).to_be_visible()
    screenshot(page, "profile-blocked")
    assert Block.objects.filter(user=alice, blocked=bob).exists()
    assert not Follow.objects.filter(follower__in=[alice, bob]).exists()

    for url in ("/", "/following/"):
        page.goto(url)
        expect(page.locator(".card", has_text="Bob was here")).to_have_count(0)
    page.goto("/settings/muted/")
    expect(page.locator("section", has_text="Blocked accounts").get_by_role("link", name="@bob")).to_be_visible()
