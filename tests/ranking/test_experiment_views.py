import re
import uuid
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from feed.models import Engagement, FeedRequest, ServedItem
from ranking.charts import INTERVAL_LEFT, INTERVAL_RIGHT, readout_charts
from ranking.experiments.assignment import INTERLEAVED
from ranking.experiments.lifecycle import VariantSpec, experiment_create, experiment_start, experiment_stop
from ranking.experiments.winner import winning_variant
from ranking.models import Experiment, ModelVersion
from ranking.registry import active_version, register
from ranking.spec import FEATURE_SPEC_VERSION
from tests.factories import SuperUserFactory, UserFactory, exposed, tweet
from users.models import User

URL = "/ranking/experiments/feed-test/"


@pytest.fixture
def staff(client, db):
    client.force_login(SuperUserFactory())
    return client


def body(response) -> str:
    return response.content.decode()


def model_version() -> ModelVersion:
    return register(artifact=b"x", metrics={}, feature_spec_version=FEATURE_SPEC_VERSION)


def running(*variants: VariantSpec, design: str = Experiment.Design.AB) -> Experiment:
    experiment = experiment_create(
        name="feed-test",
        design=design,
        variants=variants or [VariantSpec("control", "latest", 50), VariantSpec("treatment", "active", 50)],
    )
    return experiment_start(experiment=experiment)


def estimate(mean, low, high) -> dict:
    return {"mean": mean, "ci_low": low, "ci_high": high}


def lift(value, low, high, p) -> dict:
    return {"lift": value, "lift_ci_low": low, "lift_ci_high": high, "p_value": p}


READOUT = {
    "experiment": "feed-test",
    "design": "ab",
    "status": "running",
    "start": "2026-01-01",
    "end": "2026-01-14",
    "srm": {"p_value": 0.4, "mismatch": False},
    "variants": [
        {"name": "control", "ranker": "latest", "weight": 50, "metric": estimate(2.0, 1.0, 3.0)},
        {"name": "treatment", "ranker": "v2", "weight": 25, "metric": estimate(4.0, 3.0, 5.0)},
        {"name": "new", "ranker": "v3", "weight": 25, "metric": estimate(None, None, None)},
    ],
    "comparisons": [
        {"variant": "treatment", "baseline": "control", **lift(1.0, 0.5, 1.5, 0.001), "cuped": True, "guardrails": {}},
        {"variant": "new", "baseline": "control", **lift(None, None, None, None), "cuped": False, "guardrails": {}},
    ],
    "interleaving": None,
    "metric_note": "",
}


# --- The charts and the winner: pure functions of a readout ---------------------------------------------------------


def test_the_metric_chart_draws_each_variant_with_its_interval_on_round_ticks():
    charts = readout_charts(READOUT)

    control, treatment, new = charts["metric"].rows
    assert [tick.label for tick in charts["metric"].ticks] == ["1", "2", "3", "4", "5"]
    assert (control.x_low, control.x, control.x_high) == (
        INTERVAL_LEFT,
        INTERVAL_LEFT + (INTERVAL_RIGHT - INTERVAL_LEFT) / 4,
        INTERVAL_LEFT + (INTERVAL_RIGHT - INTERVAL_LEFT) / 2,
    )
    assert treatment.x_high == INTERVAL_RIGHT
    assert control.y < treatment.y < new.y
    assert (new.x, new.x_low, new.x_high) == (None, None, None)  # not defined: no bar
    assert charts["metric"].reference is None


def test_the_lift_chart_draws_no_change_and_percent_ticks():
    charts = readout_charts(READOUT)

    treatment, new = charts["lift"].rows
    assert treatment.label == "treatment vs control" and treatment.series == 1
    assert [tick.label for tick in charts["lift"].ticks] == ["0", "+50 %", "+100 %", "+150 %"]
    assert charts["lift"].reference == INTERVAL_LEFT  # no change, at the axis' low end
    assert treatment.x_high == INTERVAL_RIGHT
    assert new.x is None
    assert "preference" not in charts


def test_the_interleaving_chart_draws_the_challengers_share_around_one_half():
    readout = READOUT | {
        "design": "interleave",
        "comparisons": [],
        "interleaving": {
            "preference": 0.6,
            "ci_low": 0.55,
            "ci_high": 0.65,
            "p_value": 0.0001,
            "users": 400,
            "teams": ["control", "treatment"],
        },
    }

    charts = readout_charts(readout)

    (row,) = charts["preference"].rows
    assert row.label == "treatment"
    assert [tick.label for tick in charts["preference"].ticks] == ["0.5", "0.55", "0.6", "0.65"]
    assert charts["preference"].reference == INTERVAL_LEFT
    assert "lift" not in charts


def test_without_variants_or_comparisons_there_are_no_charts():
    assert readout_charts(READOUT | {"variants": [], "comparisons": []}) == {}


def test_a_chart_with_no_estimate_defined_is_left_out():
    undefined = {"variants": [READOUT["variants"][2]], "comparisons": [READOUT["comparisons"][1]]}
    assert readout_charts(READOUT | undefined) == {}


def test_the_winner_is_the_highest_significant_positive_lift_other_than_the_baseline():
    comparisons = [
        {"variant": "small", **lift(0.1, 0.05, 0.15, 0.001)},
        {"variant": "big", **lift(0.3, 0.1, 0.5, 0.01)},
        {"variant": "bigger-but-noise", **lift(0.5, -0.1, 1.1, 0.2)},
        {"variant": "worse", **lift(-0.4, -0.5, -0.3, 0.0001)},
    ]
    assert winning_variant(READOUT | {"comparisons": comparisons}) == "big"
    assert winning_variant(READOUT | {"comparisons": comparisons[2:]}) is None
    assert winning_variant(READOUT | {"comparisons": [{"variant": "x", **lift(None, None, None, None)}]}) is None


@pytest.mark.parametrize(
    ("guardrail", "guardrail_lift", "winner"),
    [
        ("reports", lift(0.8, 0.2, 1.4, 0.01), "small"),  # more reports: "big" is no winner
        ("long_dwells", lift(-0.2, -0.3, -0.1, 0.001), "small"),  # fewer long dwells: "big" is no winner either
        ("hides", lift(0.8, -0.2, 1.8, 0.3), "big"),  # noise: no harm shown
    ],
)
def test_a_winner_worsens_no_guardrail_significantly(guardrail, guardrail_lift, winner):
    comparisons = [
        {"variant": "small", **lift(0.1, 0.05, 0.15, 0.001)},
        {"variant": "big", **lift(0.3, 0.1, 0.5, 0.01), "guardrails": {guardrail: guardrail_lift}},
    ]
    assert winning_variant(READOUT | {"comparisons": comparisons}) == winner


@pytest.mark.parametrize(("ci_low", "p_value", "winner"), [(0.52, 0.01, "challenger"), (0.45, 0.3, None)])
def test_an_interleaving_is_won_by_the_challenger_when_its_share_is_significantly_over_a_half(ci_low, p_value, winner):
    interleaving = {"preference": 0.6, "ci_low": ci_low, "ci_high": 0.7, "p_value": p_value, "users": 100}
    readout = READOUT | {"interleaving": interleaving | {"teams": ["incumbent", "challenger"]}, "comparisons": []}

    assert winning_variant(readout) == winner


# --- The pages ------------------------------------------------------------------------------------------------------


def test_the_experiment_pages_are_for_staff_only(logged_in):
    running()
    for path in ("/ranking/experiments/", URL):
        assert Client().get(path)["Location"] == f"/login/?next={path}"
        response = logged_in.get(path)
        assert response.status_code == 403
        assert "Staff only." in body(response)
    assert logged_in.post(URL + "stop/").status_code == 403
    assert Experiment.objects.get().status == "running"


def test_the_list_shows_each_experiment_with_its_status_design_and_variants(staff):
    stopped = experiment_create(
        name="earlier", variants=[VariantSpec("a", "latest", 10), VariantSpec("b", "active", 10)]
    )
    experiment_start(experiment=stopped)
    experiment_stop(experiment=stopped)
    experiment_create(
        name="paired", design="interleave", variants=[VariantSpec("a", "latest", 100), VariantSpec("b", "active", 100)]
    )

    page = body(staff.get("/ranking/experiments/"))

    rows = re.findall(r'<th scope="row"><a href="([^"]+)">([\w-]+)</a></th>\s*<td>(\w+)</td><td>([^<]+)</td>', page)
    assert rows == [
        ("/ranking/experiments/paired/", "paired", "draft", "Team-draft interleaving"),
        ("/ranking/experiments/earlier/", "earlier", "stopped", "A/B test"),
    ]
    assert "a (latest: 10 %), b (active: 10 %)" in page
    assert "a (latest), b (active)" in page


def test_the_list_reads_in_a_constant_number_of_queries(staff, django_assert_max_num_queries):
    for n in range(5):
        experiment_create(name=f"e{n}", variants=[VariantSpec("a", "latest", 10), VariantSpec("b", "active", 10)])

    with django_assert_max_num_queries(6):  # session, user, experiments, their variants
        page = body(staff.get("/ranking/experiments/"))

    assert page.count("a (latest: 10 %), b (active: 10 %)") == 5


def test_the_ranking_page_links_to_the_experiments(staff):
    assert 'href="/ranking/experiments/"' in body(staff.get("/ranking/"))


def test_the_readout_page_shows_each_variant_its_interval_and_the_comparison(staff):
    version = model_version()
    experiment = running(VariantSpec("control", "latest", 50), VariantSpec("treatment", version.name, 50))
    exposed(experiment, "control", users=20, liking=5)
    exposed(experiment, "treatment", users=20, liking=15)

    response = staff.get(URL)

    page = body(response)
    assert response.status_code == 200
    rows = re.findall(
        r"</span>(\w+)</th><td>([\w]+)</td><td>(\d+) %</td><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td>", page
    )
    assert [(name, ranker, weight, seen, active) for name, ranker, weight, _, seen, active in rows] == [
        ("control", "latest", "50", "20", "20"),
        ("treatment", version.name, "50", "20", "20"),
    ]
    assert sum(int(assigned) for _, _, _, assigned, _, _ in rows) == User.objects.count()  # 100 % of users
    # The chart: a point and an interval per variant, then a lift with its interval.
    points = re.findall(r'<circle class="point"[^>]*><title>([^<]+)</title>', page)
    assert len(points) == 3
    assert points[0].startswith("control: ") and "95 % CI" in points[0]
    assert points[2].startswith("treatment vs control: +")
    assert page.count('class="interval"') == 3
    assert re.search(r'<th scope="row">treatment</th><td>control</td><td>\+200\.0 %</td>', page)
    assert "Sample ratio mismatch" not in page
    assert "Sample ratio check: exposed users per variant match the weights (chi-square test, p 1" in page
    assert "Interleaving" not in page
    assert re.findall(
        r'name="variant" value="(\w+)"><button type="submit" class="button primary">Ship \w+</button>', page
    ) == ["treatment"]
    assert "Stop feed-test</button>" in page
    assert "a report counts -369, a hide -74" in page  # the weights set, as the guardrails' reason


def test_a_skewed_split_raises_the_srm_alarm(staff):
    experiment = running()
    exposed(experiment, "control", users=60)
    exposed(experiment, "treatment", users=20)

    page = body(staff.get(URL))

    assert '<div class="alarm" role="alert" data-srm>' in page
    assert "the split between the variants is off" in page
    assert "this readout cannot be trusted" in page
    assert "Sample ratio check" not in page


def interleaved(experiment, team: str, *kinds: str) -> None:
    """A new user shown an interleaved list whose one item `team` picked,
    and what they did with it."""
    viewer, shown = UserFactory(), tweet(text="interleaved")
    feed_request = FeedRequest.objects.create(
        id=uuid.uuid4(), user=viewer, mode="ranked", experiment=experiment, variant=INTERLEAVED
    )
    ServedItem.objects.create(feed_request=feed_request, tweet=shown, position=0, team=team)
    Engagement.objects.bulk_create(
        Engagement(user=viewer, tweet=shown, kind=kind, feed_request=feed_request, position=0) for kind in kinds
    )


def test_an_interleaving_shows_the_challengers_share_and_each_teams_credit(staff, settings):
    experiment = running(
        VariantSpec("incumbent", "latest", 100), VariantSpec("challenger", "active", 100), design="interleave"
    )
    interleaved(experiment, "incumbent", "impression", "like")
    interleaved(experiment, "challenger", "impression", "like", "retweet")

    page = body(staff.get(URL))

    weights = settings.ENGAGEMENT_WEIGHTS
    assert '<h2 id="interleaving-title">Interleaving</h2>' in page
    assert "drafted by two teams, incumbent and challenger" in page
    share = (weights["like"] + weights["retweet"]) / (2 * weights["like"] + weights["retweet"])
    assert f"won by <strong>challenger</strong> (the challenger): <strong>{share:.3f}</strong>" in page
    credit = f"incumbent {weights['like']:.1f}, challenger {weights['like'] + weights['retweet']:.1f}"
    assert f"Credited weighted engagement in all: {credit}." in page
    assert page.count('class="point"') == 2  # the interleaved arm's metric, the challenger's share
    assert "adds up to zero or less" not in page


def test_an_interleaving_whose_credit_is_negative_says_its_share_means_nothing(staff):
    experiment = running(
        VariantSpec("incumbent", "latest", 100), VariantSpec("challenger", "active", 100), design="interleave"
    )
    interleaved(experiment, "incumbent", "impression", "like")
    interleaved(experiment, "challenger", "impression", "report")

    page = body(staff.get(URL))

    assert "The credited engagement adds up to zero or less" in page


def test_a_draft_is_started_from_its_page(staff):
    experiment_create(name="feed-test", variants=[VariantSpec("a", "latest", 50), VariantSpec("b", "active", 50)])
    page = body(staff.get(URL))
    assert "Start feed-test</button>" in page
    assert "Ship b</button>" not in page  # a draft has nothing to ship yet

    response = staff.post(URL + "start/", follow=True)

    assert response.redirect_chain == [(URL, 302)]
    assert "Started feed-test." in body(response)
    assert Experiment.objects.get().status == "running"


def test_the_page_says_why_a_start_is_refused(staff):
    running()
    experiment_create(name="second", variants=[VariantSpec("a", "latest", 50), VariantSpec("b", "active", 50)])

    page = body(staff.post("/ranking/experiments/second/start/", follow=True))

    assert "Experiment feed-test is running: stop it before starting another." in page
    assert Experiment.objects.get(name="second").status == "draft"


def test_ship_a_variant_from_the_page(staff):
    version = model_version()
    running(VariantSpec("control", "latest", 50), VariantSpec("treatment", version.name, 50))

    response = staff.post(URL + "ship/", {"variant": "treatment"}, follow=True)

    assert response.redirect_chain == [(URL, 302)]
    assert f"Shipped treatment: {version.name} is the active model and feed-test is stopped." in body(response)
    assert active_version() == version
    assert Experiment.objects.get().status == "stopped"


@pytest.mark.parametrize(
    ("variant", "message"),
    [
        ("control", "The chronological feed has no model to ship: stop the experiment instead."),
        ("nobody", "feed-test has no variant named &#x27;nobody&#x27;."),
    ],
)
def test_ship_refuses_what_has_no_model(staff, variant, message):
    running()

    response = staff.post(URL + "ship/", {"variant": variant}, follow=True)

    assert response.status_code == 200
    assert message in body(response)
    assert active_version() is None
    assert Experiment.objects.get().status == "running"


def test_the_actions_take_the_permission_to_change_experiments(client, db):
    running()
    staff_member = UserFactory(is_staff=True)
    client.force_login(staff_member)
    assert "Stop feed-test</button>" not in body(client.get(URL))
    assert client.post(URL + "stop/").status_code == 403

    staff_member.user_permissions.add(Permission.objects.get(codename="change_experiment"))
    client.force_login(staff_member)

    assert client.post(URL + "stop/").status_code == 302
    assert Experiment.objects.get().status == "stopped"


def test_an_unknown_experiment_is_a_404(staff):
    assert staff.get("/ranking/experiments/nothing/").status_code == 404
    assert staff.post("/ranking/experiments/nothing/stop/").status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        {"start": "yesterday"},
        {"end": "2026-13-01"},
        {"start": "2026-02-02", "end": "2026-02-01"},
        {"end": "9999-12-31"},
        {"start": "0001-01-01"},
    ],
)
def test_bad_days_are_a_400(staff, query):
    running()

    assert staff.get(URL, query).status_code == 400


def test_the_readout_window_is_chosen_by_day(staff):
    experiment = running()
    day = experiment.started_at.date().isoformat()

    page = body(staff.get(URL, {"start": day, "end": day}))

    assert f'name="start" value="{day}"' in page
    assert f"Readout, {day} to {day}" in page


class InlineFinder(HTMLParser):
    """What a strict Content-Security-Policy would block: script or style
    written into the page, and event handler attributes."""

    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        names = dict(attrs)
        if tag == "style" or (tag == "script" and "src" not in names):
            self.found.append(tag)
        self.found += [name for name in names if name == "style" or name.startswith("on")]


def test_the_experiment_pages_have_no_inline_script_or_style(staff):
    experiment = running()
    exposed(experiment, "control", users=30)
    exposed(experiment, "treatment", users=5)  # the SRM banner too

    for path in ("/ranking/experiments/", URL, "/ranking/"):
        finder = InlineFinder()
        finder.feed(body(staff.get(path)))
        assert finder.found == [], path
