import re
from datetime import date, datetime, time, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from feed import services
from feed.models import Engagement
from ranking.charts import BOTTOM, LEFT, RIGHT, TOP, line_chart
from ranking.registry import register, version_activate
from ranking.spec import FEATURE_SPEC_VERSION
from tests.factories import SuperUserFactory, UserFactory, tweet

pytestmark = pytest.mark.django_db
NONE = "\N{EN DASH}"  # what the page shows for a metric that is not defined

HEADS = {
    "like": {"roc_auc": 0.7612, "pr_auc": 0.1234, "rce": 5.4321, "positives": 40},
    "report": {"roc_auc": None, "pr_auc": None, "rce": None, "positives": 0},
}


@pytest.fixture
def staff(client):
    client.force_login(SuperUserFactory())
    return client


def body(response) -> str:
    return response.content.decode()


def impressions_and_likes(day: date, *, impressions: int, likes: int, variant: str = "") -> None:
    """`impressions` people shown a tweet on `day`, the first `likes` of them liking it."""
    at = datetime.combine(day, time(12), tzinfo=timezone.get_current_timezone())
    posted = tweet(text="shown")
    for n in range(impressions):
        viewer = UserFactory()
        Engagement.objects.create(user=viewer, tweet=posted, kind="impression", variant=variant, created_at=at)
        if n < likes:
            services.like_create(user=viewer, tweet=posted, at=at)
    if variant:
        Engagement.objects.filter(kind="like", created_at=at).update(variant=variant)


def test_the_ranking_page_is_for_staff_only(logged_in):
    assert Client().get("/ranking/")["Location"] == "/login/?next=/ranking/"
    response = logged_in.get("/ranking/")
    assert response.status_code == 403
    assert "Staff only." in body(response)


def test_the_ranking_page_shows_the_active_model_its_metrics_and_the_versions(staff):
    old = register(artifact=b"x", metrics={"ndcg_at_10": 0.41}, feature_spec_version=FEATURE_SPEC_VERSION)
    version_activate(version=old)
    active = register(
        artifact=b"x",
        metrics={"ndcg_at_10": 0.5678, "heads": HEADS, "decision": "beat the active model"},
        feature_spec_version=FEATURE_SPEC_VERSION,
        n_train=1000,
        n_validation=250,
    )
    version_activate(version=active)

    page = body(staff.get("/ranking/"))

    assert f"<strong>{active.name}</strong>, active since" in page
    assert "trained on 1000 impressions, validated on 250" in page
    assert "<strong>0.568</strong>" in page  # NDCG@10
    assert "<td>0.761</td><td>0.123</td><td>5.43</td>" in page  # like: ROC-AUC, PR-AUC, RCE
    assert "n = 0 positives, not enough to judge" in page  # report: nothing to judge it on
    assert f"<td>{NONE}</td><td>{NONE}</td><td>0</td></tr>" in page  # nor a rate recorded
    assert "beat the active model" in page
    assert re.findall(r'<th scope="row">(v\d+)</th><td>(\w+)</td>', page) == [
        (active.name, "active"),
        (old.name, "retired"),
    ]


def test_without_models_or_engagement_the_page_says_so(staff):
    page = body(staff.get("/ranking/"))

    assert "No model is active" in page
    assert "No model has been trained yet." in page
    assert "No engagement was logged in this period." in page
    assert "data-chart" not in page


def test_the_chart_draws_weighted_engagement_per_active_user_per_day(staff, settings):
    today = timezone.localdate()
    impressions_and_likes(today - timedelta(days=2), impressions=4, likes=2)
    impressions_and_likes(today, impressions=2, likes=2)

    page = body(staff.get("/ranking/?days=7"))

    like = settings.ENGAGEMENT_WEIGHTS["like"]
    points = re.findall(r'<circle class="point"[^>]*><title>([^<]+)</title>', page)
    assert points == [
        f"no experiment, {today - timedelta(days=2):%b} {(today - timedelta(days=2)).day}: {2 * like / 4:.2f}",
        f"no experiment, {today:%b} {today.day}: {2 * like / 2:.2f}",
    ]
    assert 'aria-current="page">7 days' in page
    assert 'class="legend"' not in page  # one line needs no legend


def test_the_chart_has_a_line_per_variant(staff):
    today = timezone.localdate()
    impressions_and_likes(today, impressions=2, likes=1, variant="control")
    impressions_and_likes(today, impressions=2, likes=2, variant="treatment")

    page = body(staff.get("/ranking/"))

    assert page.count("<polyline") == 2
    assert re.findall(r'<span class="series-\d"><span class="swatch" aria-hidden="true"></span>(\w+)', page) == [
        "control",
        "treatment",
    ]


@pytest.mark.parametrize("days", ["0", "8", "x", "-7"])
def test_an_unknown_period_is_a_400(staff, days):
    assert staff.get("/ranking/", {"days": days}).status_code == 400


def test_line_chart_scales_values_into_the_plot_with_zero_shown():
    days = [date(2026, 1, 1) + timedelta(days=n) for n in range(3)]

    chart = line_chart(days=days, lines={"a": {days[0]: -1.0, days[2]: 3.0}})

    (line,) = chart.lines
    assert [(p.x, p.y) for p in line.points] == [(LEFT, BOTTOM), (RIGHT, TOP)]
    assert chart.zero == BOTTOM - (BOTTOM - TOP) / 4
    assert [tick.label for tick in chart.y_ticks] == ["-1", "0", "1", "2", "3"]
    assert [tick.label for tick in chart.x_ticks] == ["Jan 1", "Jan 2", "Jan 3"]
    assert line.polyline == f"{LEFT:.1f},{BOTTOM:.1f} {RIGHT:.1f},{TOP:.1f}"


def test_line_chart_of_flat_zeros_and_many_days():
    days = [date(2026, 1, 1) + timedelta(days=n) for n in range(90)]

    chart = line_chart(days=days, lines={"a": dict.fromkeys(days, 0.0)})

    assert all(point.y == BOTTOM for point in chart.lines[0].points)
    assert len(chart.x_ticks) <= 8


@pytest.mark.parametrize(
    ("values", "ticks"),
    [
        ([0.25, 0.19], ["0", "0.1", "0.2", "0.3"]),
        ([12.3, 40.0], ["0", "10", "20", "30", "40"]),
        ([-3.0, 0.5], ["-3", "-2", "-1", "0", "1"]),
    ],
)
def test_line_chart_ticks_are_round_numbers(values, ticks):
    days = [date(2026, 1, 1) + timedelta(days=n) for n in range(len(values))]

    chart = line_chart(days=days, lines={"a": dict(zip(days, values, strict=True))})

    assert [tick.label for tick in chart.y_ticks] == ticks


# --- Reading the page right ------------------------------------------------------


def test_a_head_with_too_few_positives_says_so_instead_of_an_auc(staff):
    heads = {
        **HEADS,
        "reply": {"roc_auc": 0.4321, "pr_auc": 0.01, "rce": -3.0, "positives": 5},
        "hide": {"roc_auc": 0.3, "pr_auc": 0.001, "rce": -9.0, "positives": 2},
    }
    version = register(artifact=b"x", metrics={"heads": heads}, feature_spec_version=FEATURE_SPEC_VERSION)
    version_activate(version=version)

    page = body(staff.get("/ranking/"))

    assert '<td colspan="3" class="too-few">n = 5 positives, not enough to judge</td>' in page
    assert '<td colspan="3" class="too-few">n = 2 positives, not enough to judge</td>' in page
    assert '<td colspan="3" class="too-few">n = 0 positives, not enough to judge</td>' in page  # report
    assert "0.432" not in page and "0.300" not in page
    assert "<td>0.761</td><td>0.123</td><td>5.43</td>" in page  # like: 40 positives, judged
    assert "fewer than 30 positives in the validation set is not judged" in page
    # The versions table too: like judged, reply not.
    assert "<td>0.761</td><td>n = 5, too few</td>" in page


def test_the_page_says_why_the_score_can_be_negative(staff, settings):
    settings.ENGAGEMENT_WEIGHTS = {**settings.ENGAGEMENT_WEIGHTS, "hide": -74.0, "report": -369.0}
    today = timezone.localdate()
    impressions_and_likes(today, impressions=3, likes=2)

    page = body(staff.get("/ranking/"))
    assert "a hide <strong>\N{MINUS SIGN}74</strong>, a report <strong>\N{MINUS SIGN}369</strong>" in page
    assert "a like <strong>+0.5</strong>" in page
    assert "data-why-negative" not in page  # positive: nothing to explain

    viewer = UserFactory()
    at = datetime.combine(today, time(12), tzinfo=timezone.get_current_timezone())
    Engagement.objects.create(user=viewer, tweet=tweet(text="spam"), kind="impression", created_at=at)
    services.hide_create(user=viewer, tweet=Engagement.objects.latest("pk").tweet, at=at)

    page = body(staff.get("/ranking/"))
    assert re.search(r"<strong>-\d+\.\d\d</strong> per active user", page)
    assert "Below zero: the 1 hide and 0 reports weigh more than" in page


def test_one_outlier_day_is_drawn_at_the_edge_and_does_not_flatten_the_others():
    days = [date(2026, 1, 1) + timedelta(days=n) for n in range(7)]
    values = [1.0, 1.2, 0.9, 40.0, 1.1, 1.0, 1.3]

    chart = line_chart(days=days, lines={"a": dict(zip(days, values, strict=True))})

    (outlier,) = chart.off_scale
    assert (outlier.day, outlier.value, outlier.off_scale, outlier.y) == (days[3], 40.0, "above", TOP)
    assert [tick.label for tick in chart.y_ticks][-1] in {"1.5", "2"}  # the axis fits the other days
    highest = min(p.y for p in chart.lines[0].points if not p.off_scale)
    assert highest < (TOP + BOTTOM) / 2  # they use the height


def test_a_low_outlier_is_drawn_at_the_bottom_edge():
    days = [date(2026, 1, 1) + timedelta(days=n) for n in range(7)]
    values = [2.0, 2.2, 1.9, -60.0, 2.1, 2.0, 2.3]

    chart = line_chart(days=days, lines={"a": dict(zip(days, values, strict=True))})

    assert [(p.value, p.off_scale, p.y) for p in chart.off_scale] == [(-60.0, "below", BOTTOM)]


@pytest.mark.parametrize(
    "values",
    [
        [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],  # a trend, no outlier
        [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.3],  # beyond the fences, but showing it costs little height
        [1.0, 1.2, 40.0, 1.1],  # too few days to call one an outlier
    ],
)
def test_ordinary_values_stay_on_the_scale(values):
    days = [date(2026, 1, 1) + timedelta(days=n) for n in range(len(values))]

    chart = line_chart(days=days, lines={"a": dict(zip(days, values, strict=True))})

    assert chart.off_scale == []


def test_the_page_marks_and_explains_an_off_scale_day(staff):
    today = timezone.localdate()
    for days_ago in range(1, 7):
        impressions_and_likes(today - timedelta(days=days_ago), impressions=4, likes=1)
    impressions_and_likes(today, impressions=1, likes=1)
    viewer = Engagement.objects.filter(kind="like").latest("pk").user
    for n in range(3):
        services.tweet_create(author=viewer, text=f"reply {n}", reply_to=tweet(text="ask me"))

    page = body(staff.get("/ranking/?days=7"))

    assert page.count('data-off-scale="above"') == 1
    assert f"Off the scale, so that it does not flatten the other days: {today:%b} {today.day} (" in page
