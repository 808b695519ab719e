"""Conversations and the layout, in Chromium: the reply icon, landing on the
conversation after replying, the phone layout (the feed before the side
column, the header on one line) and the desktop's centred column."""

import re
from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from feed import services
from feed.models import Engagement, Tweet
from ranking.registry import register, version_activate
from ranking.spec import FEATURE_SPEC_VERSION
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
    screenshots(page, "following")
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
    items = bar.locator(":scope > *")
    expect(items.first).to_be_visible()
    count = items.count()
    assert count >= 7  # brand, search, home, profile, settings, ranking, log out (and whatever comes next)
    tops = {round(box(items.nth(i))["y"] + box(items.nth(i))["height"] / 2) for i in range(count)}
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


def test_the_ranking_page_is_legible_on_a_phone(page, log_in):
    log_in(SuperUserFactory())
    heads = {
        "like": {"roc_auc": 0.71, "pr_auc": 0.2, "rce": 3.1, "positives": 120},
        "reply": {"roc_auc": 0.43, "pr_auc": 0.01, "rce": -2.0, "positives": 5},
    }
    version_activate(
        version=register(artifact=b"x", metrics={"heads": heads}, feature_spec_version=FEATURE_SPEC_VERSION)
    )
    today = timezone.localdate()
    shown = tweet(text="shown")
    for days_ago in range(7):
        at = datetime.combine(today - timedelta(days=days_ago), time(12), tzinfo=timezone.get_current_timezone())
        for n in range(4):
            viewer = UserFactory()
            Engagement.objects.create(user=viewer, tweet=shown, kind="impression", created_at=at)
            if n == 0 or days_ago == 3:  # one day much better than the others
                services.like_create(user=viewer, tweet=shown, at=at)
                if days_ago == 3:
                    services.tweet_create(author=viewer, text="a reply", reply_to=shown, at=at)
    page.set_viewport_size(PHONE)

    page.goto("/ranking/?days=7")

    labels = page.locator("svg[data-chart] text.axis")
    expect(labels.first).to_be_visible()
    sizes = labels.evaluate_all(
        """texts => texts.map(t => {
            const svg = t.ownerSVGElement;
            const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
            return parseFloat(getComputedStyle(t).fontSize) * scale;
        })"""
    )
    assert min(sizes) >= 10.9, f"chart labels as small as {min(sizes):.1f} px at {PHONE['width']} px wide"
    expect(page.locator("svg[data-chart] [data-off-scale='above']")).to_have_count(1)
    expect(page.get_by_text("not enough to judge")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshots(page, "ranking")
