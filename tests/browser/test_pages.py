import re
from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from feed.models import Engagement, FeedRequest, Hide, Like, Report, ServedItem, Tweet
from ranking.experiments.assignment import running_experiment
from ranking.experiments.lifecycle import VariantSpec, experiment_create, experiment_start
from ranking.registry import register, version_activate
from ranking.spec import ATTRIBUTION_WINDOW, FEATURE_SPEC_VERSION
from ranking.training.examples import training_examples
from tests.browser.conftest import eventually, leave_by, screenshot
from tests.factories import SuperUserFactory, UserFactory, follow, tweet
from users.models import Follow

pytestmark = pytest.mark.slow

XSS_PAYLOADS = [
    "<script>alert('script')</script>",
    "<img src=x onerror=\"alert('img')\">",
    "javascript:alert('link')",
    "<a href=\"javascript:alert('anchor')\">click me</a>",
]


@pytest.fixture
def alice():
    return UserFactory(username="alice", display_name="Alice Liddell")


def test_sign_up_follow_post_like_and_reply(page, alice):
    follow(UserFactory(), alice)  # the most followed account: suggested first
    tweet(alice, "Welcome to Ranked Feed, everyone")

    page.goto("/")
    page.locator(".landing").get_by_role("link", name="Sign up").click()
    page.get_by_label("Username").fill("newbie")
    page.get_by_label("Display name").fill("New Bie")
    page.get_by_label("Password").fill("blue-lantern-harbor-42")
    leave_by(page.get_by_role("button", name="Create account"))

    expect(page.get_by_role("heading", name="Nothing here yet")).to_be_visible()
    follow_alice = page.locator('.empty-state [data-action="follow"][data-username="alice"]')
    follow_alice.click()
    expect(follow_alice).to_have_attribute("aria-pressed", "true")
    expect(follow_alice.locator(".label")).to_have_text("Following")
    assert Follow.objects.filter(follower__username="newbie", followee=alice).exists()

    text = "Hello from a real browser! #firsttweet"
    page.reload()
    page.get_by_label("Your tweet").fill(text)
    expect(page.locator("#compose-count")).to_have_text(str(280 - len(text)))
    leave_by(page.get_by_role("button", name="Post"))
    expect(page.get_by_text("Your tweet was posted.")).to_be_visible()

    leave_by(page.get_by_role("link", name="Following", exact=True))
    card = page.locator(".card", has_text=text)
    expect(card).to_be_visible()
    expect(page.locator(".card").first).to_contain_text(text)  # newest first
    like = card.locator('[data-action="like"]')
    like.click()
    expect(like).to_have_attribute("aria-pressed", "true")
    expect(like.locator(".count")).to_have_text("1")
    posted = Tweet.objects.get(author__username="newbie")
    assert Like.objects.filter(tweet=posted, user__username="newbie").count() == 1
    assert Engagement.objects.filter(tweet=posted, kind="like").count() == 1
    screenshot(page, "home")

    leave_by(card.locator(".text"), position={"x": 5, "y": 5})  # the card opens its tweet
    expect(page).to_have_url(re.compile(rf"/t/{posted.pk}/$"))
    page.get_by_label("Your reply").fill("And a reply to myself")
    leave_by(page.get_by_role("button", name="Reply", exact=True))
    expect(page.get_by_text("Your reply was posted.")).to_be_visible()
    # Back on the conversation: the tweet in focus, the reply below it, in view.
    expect(page.locator(".card")).to_have_count(2)
    expect(page.locator(".card.focus")).to_contain_text(text)
    reply = Tweet.objects.get(reply_to=posted)
    expect(page.locator(f"#t-{reply.pk}")).to_contain_text("And a reply to myself")

    page.goto(f"/t/{posted.pk}/")
    expect(page.locator(".card.focus [data-count='reply']")).to_have_text("1")
    expect(page.locator("[data-list] .card")).to_contain_text("And a reply to myself")
    screenshot(page, "tweet")
    page.goto("/u/newbie/")
    expect(page.get_by_role("heading", name="New Bie")).to_be_visible()
    screenshot(page, "profile")


def test_hide_and_report_remove_the_card_for_good_keyboard_included(page, log_in, alice):
    viewer = log_in(UserFactory())
    follow(viewer, alice)
    for text in ("keep me", "hide me", "report me"):
        tweet(alice, text)
    page.goto("/following/")

    hidden = page.locator(".card", has_text="hide me")
    hidden.locator("summary").focus()
    page.keyboard.press("Enter")
    expect(hidden.get_by_role("button", name="Hide this tweet")).to_be_focused()
    page.keyboard.press("Enter")
    expect(hidden).to_have_count(0)
    expect(page.locator("#status")).to_contain_text("Hidden")

    reported = page.locator(".card", has_text="report me")
    reported.locator("summary").click()
    reported.get_by_label("Report as").select_option("spam")
    reported.get_by_role("button", name="Report").click()
    expect(reported).to_have_count(0)

    kept = page.locator(".card", has_text="keep me")
    kept.locator("summary").click()
    expect(kept.get_by_role("button", name="Hide this tweet")).to_be_visible()
    page.keyboard.press("Escape")
    expect(kept.get_by_role("button", name="Hide this tweet")).to_be_hidden()
    expect(kept.locator("summary")).to_be_focused()

    page.reload()
    expect(page.locator(".card")).to_have_count(1)
    expect(kept).to_be_visible()
    hide = Hide.objects.get(user=viewer)
    assert hide.tweet.text == "hide me"
    assert Report.objects.get(user=viewer).reason == "spam"
    served = Engagement.objects.get(kind="hide")
    assert served.feed_request.user == viewer and served.position is not None


def test_new_tweets_are_announced_and_shown_on_request(page, log_in, alice):
    viewer = log_in(UserFactory())
    follow(viewer, alice)
    tweet(alice, "old news")
    page.goto("/following/")
    hint = page.get_by_role("link", name="New tweets: show them")
    expect(hint).to_be_hidden()

    tweet(alice, "breaking news")
    # The page asks every 30 s, and when it is shown again: that, sooner.
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    expect(hint).to_be_visible()
    leave_by(hint)

    expect(page.locator(".card").first).to_contain_text("breaking news")


def test_scrolling_the_feed_logs_impressions_dwell_and_clicks(page, log_in, alice):
    viewer = log_in(UserFactory())
    follow(viewer, alice)
    for n in range(30):
        tweet(alice, f"Tweet number {n} with enough words to make a card of a usual height")

    page.goto("/following/")
    for _ in range(20):
        page.mouse.wheel(0, 300)
        page.wait_for_timeout(120)
    expect(page.locator(".card")).to_have_count(30)  # the second page came on scrolling
    page.locator(".card a[data-open] time").nth(25).click()  # opening a tweet leaves the page
    expect(page).to_have_url(re.compile(r"/t/\d+/$"))

    feed_request = FeedRequest.objects.get(user=viewer)
    logged = eventually(lambda: Engagement.objects.filter(user=viewer, kind="click").exists())
    assert logged, "the click (sent as the page was left) never arrived"
    impressions = Engagement.objects.filter(user=viewer, kind="impression")
    dwells = Engagement.objects.filter(user=viewer, kind="dwell")
    assert impressions.count() >= 25
    assert dwells.count() >= 20
    assert all(e.dwell_ms >= 1 for e in dwells)
    events = Engagement.objects.filter(user=viewer, kind__in=["impression", "dwell", "click"])
    assert {e.feed_request_id for e in events} == {feed_request.pk}
    served = set(ServedItem.objects.filter(feed_request=feed_request).values_list("tweet_id", "position"))
    assert {(e.tweet_id, e.position) for e in events} <= served
    assert max(e.position for e in impressions) >= 25  # scrolled into the second page
    assert impressions.values("tweet").distinct().count() == impressions.count()  # one per card


def test_a_tweet_liked_as_soon_as_it_is_seen_is_a_like_label(page, log_in, alice):
    """The like goes at once; the impression waits in the logger's queue (the
    batch is not full): it is sent before the like (the logger flushes on
    every write) and stored at the time it happened, so training labels it."""
    viewer = log_in(UserFactory())
    follow(viewer, alice)
    liked = tweet(alice, "Like me as soon as you see me")

    page.goto("/following/")
    card = page.locator(f'.card[data-tweet="{liked.pk}"]')
    card.locator('[data-action="like"]').click()
    expect(card.locator('[data-action="like"]')).to_have_attribute("aria-pressed", "true")

    impression = eventually(lambda: Engagement.objects.filter(user=viewer, kind="impression").first())
    like = Engagement.objects.get(user=viewer, kind="like")
    assert impression is not None and impression.created_at <= like.created_at
    # As a training run sees them once their attribution window is over.
    examples = training_examples(since=timezone.now() - timedelta(hours=1), now=timezone.now() + ATTRIBUTION_WINDOW)
    assert examples.labels["like"].tolist() == [1.0]


def test_a_viewer_in_an_experiment_logs_events_tagged_with_their_variant(page, log_in, alice):
    """Through the pages and the browser's logger, as through the API: the
    home feed serves the viewer's variant, and the impressions, dwells and
    likes it logs carry the experiment and variant."""
    draft = experiment_create(
        name="home-test", variants=[VariantSpec("control", "latest", 50), VariantSpec("treatment", "active", 50)]
    )
    experiment = experiment_start(experiment=draft)
    running = running_experiment()
    viewer = next(u for u in iter(UserFactory, None) if running.assignment_for(u.pk).variant == "control")
    log_in(viewer)
    follow(viewer, alice)
    liked = tweet(alice, "A tweet to like in an experiment")

    page.goto("/")
    card = page.locator(f'.card[data-tweet="{liked.pk}"]')
    card.locator('[data-action="like"]').click()
    expect(card.locator('[data-action="like"]')).to_have_attribute("aria-pressed", "true")

    assert eventually(lambda: Engagement.objects.filter(user=viewer, kind="impression").exists())
    tags = set(Engagement.objects.filter(user=viewer).values_list("kind", "experiment", "variant"))
    assert {("impression", experiment.pk, "control"), ("like", experiment.pk, "control")} <= tags
    assert {variant for _, _, variant in tags} == {"control"}
    assert FeedRequest.objects.get(user=viewer).variant == "control"


def test_xss_payloads_render_as_text(page, log_in, alice):
    viewer = log_in(UserFactory())
    follow(viewer, alice)
    posted = [tweet(alice, payload) for payload in XSS_PAYLOADS]

    for url in ("/following/", f"/t/{posted[1].pk}/", "/u/alice/"):
        page.goto(url)
        page.wait_for_load_state("networkidle")
        for tweet_ in posted:
            texts = page.locator(f'.card[data-tweet="{tweet_.pk}"] .text')
            if texts.count():
                expect(texts.first).to_have_text(tweet_.text)
                assert texts.first.locator("script, img, a").count() == 0
    assert page.evaluate("typeof window.alert") == "function"  # not replaced, never called (see `page`)


def test_the_staff_ranking_page_shows_its_chart(page, log_in):
    log_in(SuperUserFactory())
    version = register(
        artifact=b"x",
        metrics={"ndcg_at_10": 0.61, "heads": {"like": {"roc_auc": 0.76, "pr_auc": 0.12, "rce": 4.2}}},
        feature_spec_version=FEATURE_SPEC_VERSION,
    )
    version_activate(version=version)
    shown = tweet(text="shown")
    today = timezone.localdate()
    for days_ago in range(3):
        at = datetime.combine(today - timedelta(days=days_ago), time(12), tzinfo=timezone.get_current_timezone())
        for n in range(days_ago + 2):
            viewer = UserFactory()
            Engagement.objects.create(user=viewer, tweet=shown, kind="impression", created_at=at)
            if n % 2:
                Engagement.objects.create(user=viewer, tweet=shown, kind="like", created_at=at)

    page.goto("/ranking/")

    expect(page.locator("svg[data-chart] circle.point")).to_have_count(3)
    expect(page.locator("svg[data-chart] polyline")).to_have_count(1)
    expect(page.get_by_text(version.name).first).to_be_visible()
    screenshot(page, "ranking")


def test_a_phone_width_screen_scrolls_only_down(page, log_in, alice):
    viewer = log_in(UserFactory())
    follow(viewer, alice)
    tweet(alice, "A long word could push a narrow layout sideways: " + "x" * 80 + " https://example.com/" + "y" * 60)
    page.set_viewport_size({"width": 390, "height": 844})

    page.goto("/following/")

    expect(page.locator(".card")).to_have_count(1)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "home-phone")
