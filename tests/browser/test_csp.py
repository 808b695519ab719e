"""The Content-Security-Policy (issue 12): every main page works under it,
in a real browser, with no violation reported. The policy allows no inline
script or style, so a page that needed one would be reported here."""

import pytest
from playwright.sync_api import expect

from ranking.experiments.lifecycle import VariantSpec, experiment_create, experiment_start
from tests.factories import SuperUserFactory, UserFactory, exposed, follow, tweet

pytestmark = pytest.mark.slow

LOGGED_OUT_PAGES = ["/", "/login/", "/signup/", "/no/such/page/"]
LOGGED_IN_PAGES = [
    "/",
    "/following/",
    "/compose/",
    "/t/{tweet}/",
    "/u/alice/",
    "/u/alice/followers/",
    "/hashtag/news/",
    "/ranking/",
    "/ranking/experiments/",
    "/ranking/experiments/feed-test/",
    "/api/docs/",
    "/admin/",
    "/admin/feed/tweet/",
    "/admin/feed/tweet/{tweet}/change/",
    "/admin/users/user/add/",
    "/admin/ranking/experiment/add/",
]


@pytest.fixture
def violations(page):
    """What the browser reports against the policy: the console errors it
    prints for each blocked script, style, image or connection."""
    found = []
    page.on(
        "console",
        lambda message: (
            found.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )
    return found


def test_every_page_has_the_policy_and_breaks_none_of_it(page, log_in, violations, live_server):
    alice = UserFactory(username="alice")
    posted = tweet(alice, "Breaking #news with a https://example.com link and @alice")
    for path in LOGGED_OUT_PAGES:
        response = page.goto(path)
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "style-src 'self'" in policy, path
        assert "unsafe-inline" not in policy
    admin = log_in(SuperUserFactory())
    follow(admin, alice)
    experiment = experiment_create(
        name="feed-test", variants=[VariantSpec("control", "latest", 50), VariantSpec("treatment", "active", 50)]
    )
    experiment_start(experiment=experiment)
    exposed(experiment, "control", users=30, liking=5)
    exposed(experiment, "treatment", users=5, liking=5)  # the SRM banner too

    for path in LOGGED_IN_PAGES:
        response = page.goto(path.format(tweet=posted.pk))
        assert "content-security-policy" in response.headers, path
        page.wait_for_load_state("networkidle")
        if path == "/":
            # The scripts ran: a card's like button works (fetch to the API).
            like = page.locator(f'.card[data-tweet="{posted.pk}"] [data-action="like"]').first
            like.click()
            expect(like).to_have_attribute("aria-pressed", "true")
        if path == "/api/docs/":
            expect(page.locator(".swagger-ui .info .title")).to_contain_text("Ranked Feed API")

    assert violations == []
