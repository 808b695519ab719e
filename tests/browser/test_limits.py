"""A page action over the write limit, in the browser: the person is told,
and nothing changes."""

import pytest
from playwright.sync_api import expect

from feed.models import Like
from tests.factories import UserFactory, follow, tweet

pytestmark = pytest.mark.slow


def test_a_like_over_the_write_limit_says_so_and_changes_nothing(page, context, log_in, settings):
    settings.WRITE_RATE = "1/hour"
    # The engagement logger's batches are writes too: kept out of this count.
    context.route("**/api/engagements/", lambda route: route.abort())
    viewer = log_in(UserFactory())
    author = UserFactory()
    follow(viewer, author)
    tweet(author, "the first tweet")
    tweet(author, "the second tweet")
    page.goto("/following/")

    first = page.locator(".card", has_text="the first tweet").locator('[data-action="like"]')
    first.click()
    expect(first).to_have_attribute("aria-pressed", "true")
    second = page.locator(".card", has_text="the second tweet").locator('[data-action="like"]')
    second.click()

    expect(page.locator("#status")).to_contain_text("You are doing that too often. Try again in")
    expect(second).to_have_attribute("aria-pressed", "false")
    assert list(Like.objects.filter(user=viewer).values_list("tweet__text", flat=True)) == ["the first tweet"]
