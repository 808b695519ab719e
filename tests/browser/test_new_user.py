"""Issue 16's "done when", tried as a new user would, in one browser session:
sign up, find a friend by search, get notified when they mention you, share
a tweet's link with someone logged out, set your avatar, mute a noisy word.
Each step is photographed at a phone's width and a desktop's
(artifacts/screenshots/journey-*)."""

import io
import re

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.browser.conftest import eventually, leave_by, screenshots
from tests.factories import UserFactory, follow, tweet
from users.models import Follow, User

pytestmark = pytest.mark.slow


def test_a_new_user_signs_up_finds_a_friend_is_mentioned_shares_sets_an_avatar_and_mutes(
    page, browser, live_server, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    friend = UserFactory(username="rosalind", display_name="Rosalind Franklin")
    noisy = UserFactory(username="noisy")
    tweet(friend, "Photo 51 is developed")

    # Sign up.
    page.goto("/signup/")
    page.get_by_label("Username").fill("Maurice_W")
    page.get_by_label("Display name").fill("Maurice")
    page.get_by_label("Password", exact=True).fill("a-long-enough-pass-9")
    leave_by(page.get_by_role("button", name="Create account"))
    me = User.objects.get(username="Maurice_W")
    screenshots(page, "journey-1-signed-up")

    # Find a friend by search, and follow them.
    box = page.locator("header").get_by_role("searchbox", name="Search people and tweets")
    box.fill("rosa")
    box.press("Enter")
    page.wait_for_url(re.compile(r"/search/\?q=rosa$"))
    page.wait_for_load_state("load")
    person = page.locator(".search-people .person", has_text="Rosalind Franklin")
    button = person.locator('[data-action="follow"]')
    button.click()
    expect(button).to_have_attribute("aria-pressed", "true")
    assert eventually(lambda: Follow.objects.filter(follower=me, followee=friend).exists())
    screenshots(page, "journey-2-found-a-friend")

    # The friend mentions them: the bell counts it, the page names it.
    mention = tweet(friend, "Welcome aboard, @maurice_w!")
    page.goto("/following/")
    expect(page.locator("[data-bell] [data-unread]")).to_have_text("1")
    expect(page.locator(".card", has_text="Welcome aboard")).to_have_count(1)
    screenshots(page, "journey-3-bell")
    leave_by(page.locator("[data-bell]"))
    expect(page.locator(".notification", has_text="mentioned you")).to_contain_text("Rosalind Franklin")
    screenshots(page, "journey-4-notifications")

    # Share the tweet's link with someone logged out: they read it.
    page.goto(f"/t/{mention.pk}/")
    link = page.url
    visitor = browser.new_context(base_url=live_server.url)
    try:
        shared = visitor.new_page()
        shared.goto(link)
        expect(shared.locator(".card.focus .text")).to_have_text("Welcome aboard, @maurice_w!")
        expect(shared.locator("[data-action]")).to_have_count(0)
        screenshots(shared, "journey-5-shared-logged-out")
    finally:
        visitor.close()

    # Set an avatar.
    photo = io.BytesIO()
    Image.new("RGB", (800, 600), (200, 80, 40)).save(photo, "PNG")
    page.goto("/settings/")
    page.get_by_label("Upload an image").set_input_files(
        {"name": "me.png", "mimeType": "image/png", "buffer": photo.getvalue()}
    )
    leave_by(page.get_by_role("button", name="Upload avatar"))
    expect(page.get_by_text("Your avatar was saved.")).to_be_visible()
    me.refresh_from_db()
    page.goto(f"/u/{me.username}/")
    avatar = page.locator(".profile img.avatar-large")
    expect(avatar).to_have_attribute("src", f"/media/{me.avatar}")
    assert avatar.evaluate("img => img.complete && img.naturalWidth") == 256
    screenshots(page, "journey-6-avatar")

    # Mute a noisy word: gone from both feeds.
    follow(me, noisy)
    tweet(noisy, "CRYPTO crypto moon crypto")
    tweet(noisy, "A quiet thought")
    page.goto("/settings/muted/")
    page.get_by_label("Mute a word").fill("crypto")
    leave_by(page.get_by_role("button", name="Mute", exact=True))
    expect(page.locator("[data-muted-words]")).to_contain_text("crypto")
    screenshots(page, "journey-7-muted-word")
    for url in ("/", "/following/"):
        page.goto(url)
        expect(page.locator(".card", has_text="A quiet thought")).to_have_count(1)
        expect(page.locator(".card", has_text="moon")).to_have_count(0)
    screenshots(page, "journey-8-feed-without-it")
