"""Conversations and the layout, in Chromium: the reply icon, landing on the
conversation after replying, the phone layout (the feed before the side
column, the header on one line) and the desktop's centred column."""

import re

import pytest
from playwright.sync_api import expect

from feed import services
from feed.models import Tweet
from tests.browser.conftest import DESKTOP, PHONE, leave_by, screenshots
from tests.factories import SuperUserFactory, UserFactory, follow, tweet

pytestmark = pytest.mark.slow


@pytest.fixture
def alice():
    return UserFactory(username="alice", display_name="Alice Liddell")


def box(locator) -> dict:
    found = locator.bounding_box()
    assert found is not None, f"{locator} is not laid out"
    return found


def test_reply_from_the_icon(page, log_in, alice):
    viewer = log_in(UserFactory(username="viewer"))
    follow(viewer, alice)
    question = tweet(alice, "Which way to the rabbit hole?")
    for n in range(3):
        tweet(UserFactory(), f"earlier answer {n}", reply_to=question)
    page.goto("/following/")

    # From a card: to the tweet's page, the cursor in the reply box.
    leave_by(page.locator(f'.card[data-tweet="{question.pk}"] a.action[href$="#reply"]'))
    expect(page).to_have_url(re.compile(rf"/t/{question.pk}/#reply$"))
    reply_box = page.get_by_label("Your reply")
    expect(reply_box).to_be_focused()

    # On the tweet's page, the icon goes back to the box, also when the address says #reply already.
    reply_box.blur()
    page.locator(".card.focus a.action[href='#reply']").click()
    expect(reply_box).to_be_focused()

    reply_box.fill("Follow the white one")
    leave_by(page.get_by_role("button", name="Reply", exact=True))

    # On the conversation, the reply highlighted and in view.
    mine = Tweet.objects.get(text="Follow the white one")
    expect(page).to_have_url(re.compile(rf"/t/{question.pk}/#t-{mine.pk}$"))
    expect(page.get_by_text("Your reply was posted.")).to_be_visible()
    expect(page.locator(".card.focus")).to_contain_text("Which way to the rabbit hole?")
    card = page.locator(f"#t-{mine.pk}")
    expect(card).to_be_in_viewport()
    expect(card).to_contain_text("Replying to @alice")
    assert card.evaluate("card => card.matches(':target')")
    expect(page.locator(".card.focus .stamp time")).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT"))
    screenshots(page, "conversation")


def test_the_phone_width_puts_the_feed_first(page, log_in, alice):
    viewer = log_in(UserFactory(username="viewer"))
    follow(viewer, alice)
    for n in range(4):
        follow(UserFactory(), UserFactory(username=f"suggested{n}"))  # someone to suggest
    tweet(alice, "Down the rabbit hole")
    services.retweet_create(user=viewer, tweet=tweet(UserFactory(username="hatter"), "Tea time", reply_to=tweet(alice)))
    page.set_viewport_size(PHONE)

    for url, first in (("/following/", "main .cards"), ("/u/alice/", "main .profile")):
        page.goto(url)
        main, side = box(page.locator(first)), box(page.locator("aside.side"))
        assert main["y"] + main["height"] <= side["y"], f"{url}: the side column is above the main one"
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.goto("/following/")
    expect(page.get_by_text("You retweeted")).to_be_visible()
    screenshots(page, "home")
    page.goto("/u/alice/")
    screenshots(page, "profile")

    # On a desktop, the side column is beside the feed.
    page.set_viewport_size(DESKTOP)
    main, side = box(page.locator("main")), box(page.locator("aside.side"))
    assert side["x"] >= main["x"] + main["width"] and abs(side["y"] - main["y"]) < 1


def test_the_header_stays_on_one_line_at_phone_width(page, log_in):
    staff = log_in(SuperUserFactory(username="a_rather_long_staff_username"))  # every link there is
    page.set_viewport_size(PHONE)

    page.goto(f"/t/{tweet(staff, 'hello').pk}/")

    bar = page.locator("nav.bar")
    links = bar.locator(":scope > a, :scope > form")
    expect(links).to_have_count(5)  # brand, home, profile, ranking, log out
    tops = {round(box(links.nth(i))["y"] + box(links.nth(i))["height"] / 2) for i in range(5)}
    assert max(tops) - min(tops) <= 2, f"the header's items are on more than one line: {tops}"
    assert box(bar)["height"] <= 64
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # The labels collapse to icons but still name the links.
    expect(bar.get_by_role("link", name="Profile")).to_be_visible()
    expect(bar.get_by_role("button", name="Log out")).to_be_visible()
    expect(bar.get_by_text("Profile")).not_to_be_in_viewport()


def test_pages_without_the_side_column_are_centred_on_a_desktop(page, log_in):
    viewer = log_in(UserFactory())
    page.set_viewport_size(DESKTOP)

    page.goto(f"/t/{tweet(viewer, 'centred?').pk}/")

    main = box(page.locator("main"))
    assert page.locator("aside.side").count() == 0
    assert abs(main["x"] + main["width"] / 2 - DESKTOP["width"] / 2) <= 8  # half the scrollbar, at most
    screenshots(page, "tweet")
