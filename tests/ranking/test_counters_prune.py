"""The counters' day rows older than COUNTERS_KEEP_DAYS are pruned nightly
(beat runs ranking.tasks.prune_counters): no build reads them, so a build's
features are the same after, and the tables stop growing with history."""

from datetime import timedelta

import pytest
from celery import current_app
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from feed import services
from feed.counters import COUNTER_MODELS
from ranking.serving.candidates import Candidate, CandidateSet
from ranking.serving.features import counters_prune_unread, serving_features
from ranking.tasks import prune_counters
from tests.conftest import wait_for
from tests.factories import UserFactory, follow, tweet


def rows_by_day() -> dict:
    return {model: set(model.objects.values_list("day", flat=True)) for model in COUNTER_MODELS}


def history(now) -> tuple:
    """A viewer, an author and a fan they follow, with impressions, dwells and
    a like of one old tweet on days from 70 days ago to yesterday, and a tweet
    of yesterday."""
    viewer, author, fan = UserFactory.create_batch(3)
    follow(viewer, author)
    follow(viewer, fan)
    old = tweet(author, "an old tweet about rivers", at=now - timedelta(days=75))
    for days in (70, 60, 50, 40, 36, 34, 20, 10, 1):
        at = now - timedelta(days=days)
        for person in (viewer, fan):
            dwell = services.ClientEvent(old.pk, "dwell", dwell_ms=4000 + days)
            services.engagements_log(user=person, events=[services.ClientEvent(old.pk, "impression"), dwell], at=at)
        services.like_create(user=UserFactory(), tweet=old, at=at)
    recent = tweet(author, "a new tweet about rivers", at=now - timedelta(days=1))
    services.like_create(user=viewer, tweet=recent, at=now - timedelta(hours=20))
    return viewer, author, fan, [old, recent]


def features(viewer, followees, tweets, at):
    candidates = [Candidate(t.pk, t.author_id, t.text, t.created_at, False, "followee") for t in tweets]
    return serving_features(candidate_set=CandidateSet(viewer.pk, frozenset(followees), candidates), at=at)


@pytest.mark.django_db
def test_pruning_drops_only_the_days_no_build_reads_and_a_builds_features_stay_the_same():
    now = timezone.now()
    viewer, author, fan, tweets = history(now)
    before = features(viewer, [author.pk, fan.pk], tweets, now)
    cutoff = (now - timedelta(days=settings.COUNTERS_KEEP_DAYS)).date()
    days = rows_by_day()
    assert all(min(kept) < cutoff for kept in days.values())
    old_rows = sum(model.objects.filter(day__lt=cutoff).count() for model in COUNTER_MODELS)

    pruned = counters_prune_unread(at=now)

    after = features(viewer, [author.pk, fan.pk], tweets, now)
    assert after.numeric.tolist() == before.numeric.tolist()
    assert before.numeric.sum() > 0
    for model, kept in rows_by_day().items():
        assert kept == {day for day in days[model] if day >= cutoff}, model.__name__
    assert pruned == old_rows > 0


@pytest.mark.django_db
def test_a_keep_shorter_than_the_longest_feature_window_is_refused_and_nothing_is_pruned(settings):
    settings.COUNTERS_KEEP_DAYS = 29
    now = timezone.now()
    history(now)
    days = rows_by_day()

    with pytest.raises(ImproperlyConfigured, match="COUNTERS_KEEP_DAYS"):
        counters_prune_unread(at=now)

    assert rows_by_day() == days


def test_beat_runs_the_prune_nightly():
    assert settings.CELERY_BEAT_SCHEDULE["prune-counters-nightly"]["task"] == prune_counters.name


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_prunes_the_old_days(celery_worker_process):
    now = timezone.now()
    history(now)
    cutoff = (now - timedelta(days=settings.COUNTERS_KEEP_DAYS)).date()
    assert any(day < cutoff for days in rows_by_day().values() for day in days)

    current_app.send_task(prune_counters.name)

    wait_for(lambda: all(day >= cutoff for days in rows_by_day().values() for day in days), timeout_s=30)
    assert all(rows_by_day().values())
