import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

from feed import services
from feed.models import Engagement, Report, Tweet
from tests.factories import SuperUserFactory, UserFactory, follow, served, tweet

pytestmark = pytest.mark.django_db

REGISTERED = sorted(admin.site._registry, key=lambda model: model._meta.label)
PROJECT_APPS = {"users", "feed", "ranking", "simulator"}


def changelist(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


@pytest.fixture
def moderator(client):
    client.force_login(SuperUserFactory())
    return client


@pytest.fixture
def world():
    """One of everything the admin lists."""
    author, reader = UserFactory.create_batch(2)
    follow(reader, author)
    posted = tweet(author, "spam spam spam")
    tweet(reader, "a reply", reply_to=posted)
    services.retweet_create(user=reader, tweet=posted)
    services.like_create(user=reader, tweet=posted)
    services.hide_create(user=reader, tweet=posted)
    services.report_create(user=reader, tweet=posted, reason=Report.Reason.SPAM)
    feed_request = served(reader, posted, model_version="m-1")
    services.engagements_log(
        user=reader, events=[services.ClientEvent(tweet_id=posted.pk, kind="impression", feed_request=feed_request)]
    )
    return {"author": author, "reader": reader, "tweet": posted}


# Models the admin leaves out on purpose, and why.
NOT_IN_ADMIN = {
    "feed.ServedItem",  # one row per served item: too many to browse, read per feed request
    # Derived counters (feed.counters), rebuilt from the log by a command: nothing to edit by hand.
    "feed.TweetDayCounts",
    "feed.AuthorDayCounts",
    "feed.ViewerAuthorDayCounts",
    "ranking.Variant",  # edited inline on its experiment, checked with it
    "simulator.World",  # the synthetic world's hidden truth: never product data
    "simulator.WorldUser",
    "simulator.WorldTweet",
}


def test_every_model_is_registered():
    ours = {model._meta.label for model in apps.get_models() if model._meta.app_label in PROJECT_APPS}

    assert {model._meta.label for model in REGISTERED if model._meta.app_label in PROJECT_APPS} == ours - NOT_IN_ADMIN
    assert ours >= NOT_IN_ADMIN


@pytest.mark.parametrize("model", REGISTERED, ids=lambda model: model._meta.label)
def test_changelist_loads_and_searches(moderator, world, model):
    assert moderator.get(changelist(model)).status_code == 200
    assert moderator.get(changelist(model), {"q": world["author"].username}).status_code == 200


def test_changelists_need_staff(client, world):
    client.force_login(UserFactory())

    response = client.get(changelist(Report))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_report_queue_filters_open_and_resolved(moderator, world):
    other = tweet(world["author"], "resolved already")
    services.report_create(user=world["reader"], tweet=other, reason=Report.Reason.ABUSE)
    Report.objects.filter(tweet=other).update(resolved=True)

    open_page = moderator.get(changelist(Report), {"status": "open"}).content.decode()
    resolved_page = moderator.get(changelist(Report), {"status": "resolved"}).content.decode()

    assert "spam spam spam" in open_page
    assert "resolved already" not in open_page
    assert "resolved already" in resolved_page
    assert "spam spam spam" not in resolved_page


def test_tweet_changelist_names_retweets(moderator, world):
    assert f"(retweet of {world['tweet'].pk})" in moderator.get(changelist(Tweet)).content.decode()


def test_logs_are_read_only_and_tweets_cannot_be_hard_deleted(moderator, world):
    engagement = Engagement.objects.first()

    assert moderator.get(reverse("admin:feed_engagement_add")).status_code == 403
    assert moderator.post(reverse("admin:feed_engagement_delete", args=[engagement.pk])).status_code == 403
    assert moderator.post(reverse("admin:feed_tweet_delete", args=[world["tweet"].pk])).status_code == 403
    assert Tweet.objects.filter(pk=world["tweet"].pk).exists()


def run_action(client, model, action, objects):
    return client.post(
        changelist(model), {"action": action, "_selected_action": [obj.pk for obj in objects]}, follow=True
    )


@pytest.fixture
def reported():
    """Two tweets: one reported twice (and a reply), one reported once."""
    parent = tweet()
    bad = tweet(text="bad", reply_to=parent)
    other = tweet(text="other")
    reporters = UserFactory.create_batch(2)
    reports = [services.report_create(user=user, tweet=bad, reason="spam") for user in reporters]
    other_report = services.report_create(user=reporters[0], tweet=other, reason="abuse")
    return {"parent": parent, "bad": bad, "other": other, "reports": reports, "other_report": other_report}


def test_resolve_keeps_the_tweet(moderator, reported):
    response = run_action(moderator, Report, "resolve", reported["reports"][:1])

    assert response.status_code == 200
    assert "1 report(s) resolved." in response.content.decode()
    assert set(Report.objects.filter(resolved=True)) == {reported["reports"][0]}
    assert Tweet.objects.get(pk=reported["bad"].pk).deleted_at is None


def test_remove_tweet_and_resolve_all_its_reports(moderator, reported):
    response = run_action(moderator, Report, "remove_tweet_and_resolve", reported["reports"][:1])

    assert "Removed 1 tweet(s), resolved 2 report(s)." in response.content.decode()
    assert Tweet.objects.get(pk=reported["bad"].pk).deleted_at is not None
    assert Tweet.objects.get(pk=reported["parent"].pk).reply_count == 0
    assert Tweet.objects.get(pk=reported["other"].pk).deleted_at is None
    assert set(Report.objects.filter(resolved=False)) == {reported["other_report"]}
    # The queue marks what was removed.
    assert "bad [removed]" in moderator.get(changelist(Report)).content.decode()


def test_remove_tweets(moderator):
    original = tweet(text="original")
    retweet = services.retweet_create(user=UserFactory(), tweet=original)
    already = tweet()
    services.tweet_delete(tweet=already, by=already.author)
    kept = tweet()

    response = run_action(moderator, Tweet, "remove_tweets", [retweet, already])

    assert "Tweets removed." in response.content.decode()
    assert Tweet.objects.get(pk=retweet.pk).deleted_at is not None
    assert Tweet.objects.get(pk=original.pk).retweet_count == 0
    assert Tweet.objects.get(pk=kept.pk).deleted_at is None
