import json
import subprocess
import sys
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from feed.models import Engagement
from tests.factories import UserFactory
from tests.ranking.experiments.world import experiment_make, request

KEYS = {"experiment", "design", "status", "start", "end", "srm", "variants", "comparisons", "interleaving"}
VARIANT_KEYS = {"name", "ranker", "weight", "assigned", "exposed", "active", "metric", "headline", "guardrails"}
COMPARISON_KEYS = {"variant", "baseline", "lift", "lift_ci_low", "lift_ci_high", "p_value", "cuped", "guardrails"}


def report(*args) -> str:
    out = StringIO()
    call_command("experiment_report", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_json_readout_has_the_issues_keys(ab_world):
    readout = json.loads(report("ranker-test", "--json"))

    assert readout.keys() >= KEYS
    assert readout["experiment"] == "ranker-test"
    assert [variant.keys() >= VARIANT_KEYS for variant in readout["variants"]] == [True, True]
    assert readout["variants"][0]["metric"].keys() == {"mean", "ci_low", "ci_high"}
    assert readout["variants"][0]["guardrails"].keys() == {"negative_actions", "hides", "reports", "long_dwells"}
    assert readout["comparisons"][0].keys() >= COMPARISON_KEYS
    assert readout["srm"].keys() == {"p_value", "mismatch"}


@pytest.mark.django_db
def test_json_readout_of_some_days(ab_world):
    readout = json.loads(report("ranker-test", "--json", "--start", "2026-03-03", "--end", "2026-03-03"))

    assert (readout["start"], readout["end"]) == ("2026-03-03", "2026-03-03")
    assert [variant["exposed"] for variant in readout["variants"]] == [0, 1]


@pytest.mark.django_db
def test_the_table_shows_variants_lifts_and_the_srm_check(ab_world):
    text = report("ranker-test")

    assert "SRM check: p = 1.0000, no mismatch" in text
    assert "control" in text and "treatment" in text
    assert "metric.mean = headline * active / exposed" in text
    assert "MISMATCH" not in text


@pytest.mark.django_db
def test_the_table_warns_loudly_of_a_sample_ratio_mismatch(db):
    experiment = experiment_make(name="skewed", variants=(("control", "latest", 50), ("treatment", "active", 50)))
    for i, user in enumerate(UserFactory.create_batch(30)):
        request(user, experiment, "control" if i < 25 else "treatment")

    assert "SAMPLE RATIO MISMATCH" in report("skewed")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "No experiment named nope."),
        (["ranker-test", "--start", "2026-13-01"], "'2026-13-01' is not a date (YYYY-MM-DD)"),
        (["ranker-test", "--start", "2026-03-04", "--end", "2026-03-02"], "--end is before --start"),
    ],
)
def test_bad_names_and_dates_are_one_line_errors(ab_world, args, message):
    with pytest.raises(CommandError) as error:
        report(*args)

    assert str(error.value).endswith(message)
    assert "\n" not in str(error.value)


def test_a_bad_date_on_the_command_line_is_one_line_and_exit_status_1():
    # Through manage.py, not call_command: an error raised while argparse
    # reads the line would escape as a traceback. The date is refused before
    # any query, so the test database is not needed.
    done = subprocess.run(
        [sys.executable, "manage.py", "experiment_report", "any", "--start", "2026-02-30"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 1
    assert done.stderr.strip() == "CommandError: '2026-02-30' is not a date (YYYY-MM-DD)"


@pytest.mark.django_db
def test_the_table_of_an_interleaving_experiment(interleaved_world):
    text = report("interleave-test")

    assert "SRM check: none (interleaving" in text
    assert "Interleaving: model won -1.000 of the credited weighted engagement" in text
    assert "credit chronological 4.000, model -2.000" in text
    assert "Warning" not in text


@pytest.mark.django_db
def test_the_table_warns_when_a_share_of_the_credit_means_nothing(interleaved_world):
    Engagement.objects.filter(kind="like").delete()  # chronological 3, model -10: a negative total

    assert "Warning: the credited weighted engagement adds up to zero or less" in report("interleave-test")
