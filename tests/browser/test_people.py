"""People in the browser: finding someone by search and following them,
reading a shared tweet logged out, and setting a bio and an avatar."""

import io
import re

import pytest
from PIL import Image
from playwright.sync_api import expect

from feed.models import FeedRequest
from tests.browser.conftest import ENGAGEMENTS, eventually, leave_by, screenshot
from tests.factories import UserFactory, tweet
from users.models import Follow, User

pytestmark = pytest.mark.slow

PHONE = {"width": 390, "height": 844}


def test_search_for_a_person_and_follow_them(page, log_in):
    me = log_in(UserFactory(username="searcher"))
    ada = UserFactory(username="ada_lovelace", display_name="Ada Lovelace")
    UserFactory(username="adam", display_name="Adam Smith")
    tweet(ada, "Notes on the analytical engine")
    tweet(UserFactory(), "Ada, the engine is running")

    page.goto("/")
    box = page.locator("header").get_by_role("searchbox", name="Search people and tweets")
    box.fill("ada")
    box.press("Enter")
    page.wait_for_url(re.compile(r"/search/\?q=ada$"))
    page.wait_for_load_state("load")

    people = page.locator(".search-people .person")
    expect(people).to_have_count(2)
    row = people.filter(has_text="Ada Lovelace")
    expect(row.locator("img.avatar")).to_have_attribute("src", "/avatars/default/ada_lovelace.svg")
    expect(page.locator(".card")).to_contain_text(["Ada, the engine is running"])
    screenshot(page, "search")

    button = row.locator('[data-action="follow"]')
    button.click()
    expect(button).to_have_attribute("aria-pressed", "true")
    assert eventually(lambda: Follow.objects.filter(follower=me, followee=ada).exists())

    leave_by(page.get_by_role("link", name="People", exact=True))
    expect(page.locator(".people .person")).to_have_count(2)
    expect(page.locator('.people [data-username="ada_lovelace"]')).to_have_attribute("aria-pressed", "true")

    page.set_viewport_size(PHONE)
    page.reload()
    screenshot(page, "search-phone")


def test_read_a_tweet_logged_out(page):
    alice, bob = UserFactory(username="alice", display_name="Alice"), UserFactory(username="bob")
    root = tweet(alice, "A thought worth sharing, @bob")
    reply = tweet(bob, "I agree with @alice and @nobody", reply_to=root)
    tweet(alice, "Thanks!", reply_to=reply)
    sent = []
    page.on("request", lambda request: sent.append(request.url) if ENGAGEMENTS in request.url else None)

    page.goto(f"/t/{reply.pk}/")

    expect(page.locator(".card")).to_have_count(3)
    expect(page.locator(".card.focus .text")).to_have_text("I agree with @alice and @nobody")
    expect(page.locator(".card.focus .text a")).to_have_text(["@alice"])  # nobody is no one
    expect(page.locator("[data-action]")).to_have_count(0)  # no buttons that would fail
    expect(page.get_by_role("link", name="Log in").last).to_be_visible()
    screenshot(page, "tweet-logged-out")

    leave_by(page.locator(".card.focus .text a"))
    expect(page).to_have_url(re.compile(r"/u/alice/$"))
    expect(page.locator(".card")).to_have_count(2)
    page.set_viewport_size(PHONE)
    page.goto(f"/t/{root.pk}/")
    screenshot(page, "tweet-logged-out-phone")

    page.wait_for_timeout(500)
    assert sent == []
    assert not FeedRequest.objects.exists()


def test_set_a_bio_and_an_avatar(page, log_in, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    me = log_in(UserFactory(username="grace", display_name="Grace", bio=""))
    tweet(me, "My first tweet")
    photo = io.BytesIO()
    Image.new("RGB", (640, 480), (30, 120, 200)).save(photo, "JPEG")

    page.goto("/")
    leave_by(page.get_by_role("link", name="Settings"))
    page.get_by_label("Bio").fill("Compilers, and the occasional moth.")
    leave_by(page.get_by_role("button", name="Save profile"))
    expect(page.get_by_text("Your profile was saved.")).to_be_visible()

    page.get_by_label("Upload an image").set_input_files(
        {"name": "me.jpg", "mimeType": "image/jpeg", "buffer": photo.getvalue()}
    )
    leave_by(page.get_by_role("button", name="Upload avatar"))
    expect(page.get_by_text("Your avatar was saved.")).to_be_visible()
    me.refresh_from_db()
    assert me.bio == "Compilers, and the occasional moth."
    assert me.avatar.startswith(f"avatars/{me.pk}/")
    screenshot(page, "settings")

    page.get_by_label("Upload an image").set_input_files(
        {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not an image"}
    )
    leave_by(page.get_by_role("button", name="Upload avatar"))
    expect(page.get_by_role("alert")).to_contain_text("Upload an image")
    assert User.objects.get(pk=me.pk).avatar == me.avatar

    page.goto(f"/u/{me.username}/")
    expect(page.locator(".bio")).to_have_text("Compilers, and the occasional moth.")
    large = page.locator(".profile img.avatar-large")
    expect(large).to_have_attribute("src", f"/media/{me.avatar}")
    assert large.evaluate("img => img.complete && img.naturalWidth") == 256
    card_avatar = page.locator(".card img.avatar").first
    assert card_avatar.evaluate("img => img.complete && img.naturalWidth") == 256
    screenshot(page, "profile-avatar")
