import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command

from feed.models import Engagement
from ranking.metrics import engagement_report
from tests.factories import UserFactory, tweet

DAY = date(2026, 3, 2)
NOON = datetime(2026, 3, 2, 12, tzinfo=UTC)
WORKED_EXAMPLE_WEIGHTS = {"like": 1, "reply": 2, "retweet": 3, "report": -10, "hide": 0, "dwell": 0}


def log(user, target, kind, at=NOON, **fields):
    return Engagement(user=user, tweet=target, kind=kind, created_at=at, **fields)


@pytest.fixture
def target(db):
    return tweet(text="the tweet everyone sees")


@pytest.mark.django_db
def test_worked_example_of_the_design_gives_2_4(target):
    users = UserFactory.create_batch(100)
    rows = [log(users[i % 100], target, "impression") for i in range(2000)]
    for kind, count in [("like", 70), ("reply", 80), ("retweet", 20), ("report", 5)]:
        rows += [log(users[i], target, kind) for i in range(count)]
    Engagement.objects.bulk_create(rows)

    total = engagement_report(start=DAY, end=DAY, weights=WORKED_EXAMPLE_WEIGHTS).total

    assert total.active_users == 100
    assert total.weighted_engagement == 240
    assert total.weighted_engagement_per_user == pytest.approx(2.4)
    assert total.negative_actions_per_user == pytest.approx(0.05)
    assert total.counts["impression"] == 2000


@pytest.mark.django_db
def test_a_period_without_active_users_scores_zero(target):
    Engagement.objects.bulk_create([log(target.author, target, "like")])  # an action, but nobody was shown anything

    report = engagement_report(start=DAY, end=DAY)

    assert report.total.active_users == 0
    assert report.total.weighted_engagement_per_user == 0
    assert report.total.counts["like"] == 1
    assert engagement_report(start=date(2020, 1, 1), end=date(2020, 1, 2)).days == []


@pytest.mark.django_db
def test_users_active_on_one_day_only_count_once_per_day_and_once_over_the_period(target):
    a, b, c = UserFactory.create_batch(3)
    next_day = NOON + timedelta(days=1)
    Engagement.objects.bulk_create(
        [
            log(a, target, "impression"),
            log(a, target, "impression", at=next_day),
            log(b, target, "impression"),
            log(b, target, "like"),
            log(c, target, "impression", at=next_day),
            log(c, target, "reply", at=next_day),
        ]
    )

    report = engagement_report(start=DAY, end=DAY + timedelta(days=1))

    assert [(day["day"], day["active_users"]) for day in report.days] == [("2026-03-02", 2), ("2026-03-03", 2)]
    assert report.days[0]["weighted_engagement_per_user"] == pytest.approx(0.5 / 2)
    assert report.days[1]["weighted_engagement_per_user"] == pytest.approx(13.5 / 2)
    assert report.total.active_users == 3
    assert report.total.weighted_engagement_per_user == pytest.approx((0.5 + 13.5) / 3)


@pytest.mark.django_db
def test_weights_come_from_settings(settings, target):
    settings.ENGAGEMENT_WEIGHTS = {**settings.ENGAGEMENT_WEIGHTS, "like": 10.0}
    Engagement.objects.bulk_create([log(target.author, target, "impression"), log(target.author, target, "like")])

    assert engagement_report(start=DAY, end=DAY).total.weighted_engagement == 10.0


@pytest.mark.django_db
def test_only_long_dwells_are_weighted_and_all_dwell_counts_as_time(settings, target):
    settings.DWELL_LONG_MS = 5000
    viewer = target.author
    Engagement.objects.bulk_create(
        [
            log(viewer, target, "impression"),
            log(viewer, target, "dwell", dwell_ms=4999),
            log(viewer, target, "dwell", dwell_ms=5000),
        ]
    )

    total = engagement_report(start=DAY, end=DAY).total

    assert total.counts["dwell"] == 1
    assert total.weighted_engagement == settings.ENGAGEMENT_WEIGHTS["dwell"]
    assert total.dwell_s_per_user == pytest.approx(9.999)


@pytest.mark.django_db
def test_grouped_by_variant(target):
    a, b = UserFactory.create_batch(2)
    Engagement.objects.bulk_create(
        [
            log(a, target, "impression", variant="control"),
            log(a, target, "like", variant="control"),
            log(b, target, "impression", variant="treatment"),
            log(b, target, "hide", variant="treatment"),
        ]
    )

    report = engagement_report(start=DAY, end=DAY, by="variant")

    by_variant = {group["variant"]: group for group in report.groups}
    assert by_variant["control"]["weighted_engagement_per_user"] == 0.5
    assert by_variant["treatment"]["weighted_engagement_per_user"] == -74.0
    assert {(day["day"], day["variant"]) for day in report.days} == {
        ("2026-03-02", "control"),
        ("2026-03-02", "treatment"),
    }


@pytest.mark.django_db
def test_the_report_costs_a_constant_number_of_queries(django_assert_num_queries, target):
    users = UserFactory.create_batch(20)
    rows = [
        log(u, target, kind, at=NOON + timedelta(days=d))
        for u in users
        for d in range(5)
        for kind in ("impression", "like")
    ]
    Engagement.objects.bulk_create(rows)

    with django_assert_num_queries(3):
        engagement_report(start=DAY, end=DAY + timedelta(days=4), by="model_version")


def independent_count(start, end):
    """The metric the slow, obvious way: a Python loop over every row."""
    since = datetime.combine(start, datetime.min.time(), tzinfo=UTC)
    until = datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    counts, active, dwell_ms = Counter(), set(), 0
    for event in Engagement.objects.filter(created_at__gte=since, created_at__lt=until):
        if event.kind == "impression":
            active.add(event.user_id)
        if event.kind == "dwell":
            dwell_ms += event.dwell_ms
            if event.dwell_ms >= 10_000:
                counts["dwell"] += 1
        else:
            counts[event.kind] += 1
    weights = {"like": 0.5, "retweet": 1.0, "reply": 13.5, "hide": -74.0, "report": -369.0, "dwell": 2.0}
    weighted = sum(weights[kind] * counts[kind] for kind in weights)
    return {"active_users": len(active), "weighted": weighted, "per_user": weighted / len(active), "dwell_ms": dwell_ms}


@pytest.mark.django_db
def test_the_json_report_agrees_with_an_independent_count(capsys, target):
    users = UserFactory.create_batch(7)
    kinds = ["impression", "impression", "like", "reply", "retweet", "hide", "report", "click"]
    rows = []
    for i in range(300):
        user, kind, at = users[i % 7], kinds[(i * 5) % len(kinds)], NOON + timedelta(hours=i % 40)
        rows.append(log(user, target, kind, at=at))
        rows.append(log(user, target, "dwell", at=at, dwell_ms=500 + 97 * i))
    Engagement.objects.bulk_create(rows)

    call_command("engagement_report", "--start", "2026-03-02", "--end", "2026-03-04", "--json")
    report = json.loads(capsys.readouterr().out)
    expected = independent_count(date(2026, 3, 2), date(2026, 3, 4))

    assert report["total"]["active_users"] == expected["active_users"]
    assert report["total"]["weighted_engagement"] == pytest.approx(expected["weighted"])
    assert report["total"]["weighted_engagement_per_user"] == pytest.approx(expected["per_user"])
    assert report["total"]["dwell_ms"] == expected["dwell_ms"]
    assert sum(day["counts"]["like"] for day in report["days"]) == report["total"]["counts"]["like"]
    assert {
        "day",
        "active_users",
        "counts",
        "weighted_engagement_per_user",
        "negative_actions_per_user",
        "dwell_s_per_user",
    } <= set(report["days"][0])


@pytest.mark.django_db
def test_the_readable_report_and_its_errors(capsys, target):
    Engagement.objects.bulk_create([log(target.author, target, "impression", variant="a")])

    call_command("engagement_report", "--start", "2026-03-02", "--end", "2026-03-02", "--by", "variant")
    out = capsys.readouterr().out
    assert "weighted_engagement_per_user" in out
    assert "2026-03-02" in out

    with pytest.raises(CommandError, match="not a date"):
        call_command("engagement_report", "--start", "March", "--end", "2026-03-02")
    with pytest.raises(CommandError, match="before"):
        call_command("engagement_report", "--start", "2026-03-02", "--end", "2026-03-01")
