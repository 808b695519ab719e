import json
from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command

from ranking.models import Experiment, ModelVersion
from simulator.models import World
from simulator.simulation import simulate
from users.models import User

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_simulate_prints_the_metric_of_the_days_it_simulated(capsys):
    call_command("simulate", "--users", "30", "--days", "1", "--seed", "3")
    out = capsys.readouterr().out

    assert "Simulated 1 day(s) of 30 users in latest mode" in out
    assert "weighted engagement per active user" in out
    call_command("simulate", "--users", "30", "--days", "1", "--seed", "3")
    assert "Extending the existing world" in capsys.readouterr().out
    assert World.objects.get().days == 2
    with pytest.raises(CommandError):
        call_command("simulate", "--users", "3")


def test_seed_demo_seeds_once_and_trains_a_ranker(capsys, settings):
    settings.DEBUG = True  # development: the published demo login
    call_command("seed_demo", "--users", "80", "--days", "3")
    first = capsys.readouterr().out
    call_command("seed_demo", "--users", "80", "--days", "3")

    assert "Seeded a demo world" in first
    assert "demo / demo-password" in first
    assert "not seeding again" in capsys.readouterr().out
    assert ModelVersion.objects.filter(status="active").count() == 1


def test_evaluate_rankers_compares_three_rankers_and_leaves_the_database_as_found(capsys):
    call_command("evaluate_rankers", "--users", "80", "--train-days", "3", "--test-days", "1", "--seed", "2", "--json")
    report = json.loads(capsys.readouterr().out)

    assert {"latest", "learned", "oracle", "recovered_share", "heads"} <= set(report)
    assert report["oracle"] > report["latest"]
    expected = (report["learned"] - report["latest"]) / (report["oracle"] - report["latest"])
    assert report["recovered_share"] == pytest.approx(expected)
    assert set(report["heads"]) == {"like", "reply", "retweet", "hide", "report", "dwell"}
    assert not World.objects.exists() and not ModelVersion.objects.exists()

    call_command("evaluate_rankers", "--users", "80", "--train-days", "3", "--test-days", "1", "--seed", "2")
    assert "Recovered share of the oracle's lift" in capsys.readouterr().out


def test_evaluate_rankers_refuses_a_database_with_a_world():
    simulate(users=20, days=1, seed=1, mode="latest", start=datetime(2026, 3, 2, tzinfo=UTC))

    with pytest.raises(CommandError, match="empty one"):
        call_command("evaluate_rankers", "--users", "20")


def test_seed_demo_outside_development_makes_a_password_and_prints_it_once(capsys, settings, monkeypatch):
    settings.DEBUG = False
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)
    call_command("seed_demo", "--users", "30", "--days", "1")
    first = capsys.readouterr().out
    call_command("seed_demo", "--users", "30", "--days", "1")
    second = capsys.readouterr().out

    demo = User.objects.get(username="demo")
    assert not demo.check_password("demo-password")
    [password] = [line.split(" / ")[1].split()[0] for line in first.splitlines() if line.startswith("Demo login")]
    assert len(password) >= 20 and demo.check_password(password)
    assert password not in second and "demo-password" not in second


def test_seed_demo_outside_development_takes_the_password_it_is_given(capsys, settings, monkeypatch):
    settings.DEBUG = False
    monkeypatch.setenv("DEMO_PASSWORD", "from-the-environment-7")
    call_command("seed_demo", "--users", "30", "--days", "1")

    assert User.objects.get(username="demo").check_password("from-the-environment-7")
    assert "from-the-environment-7" not in capsys.readouterr().out


@pytest.mark.parametrize("how", ["--password", "DEMO_PASSWORD"])
def test_seed_demo_refuses_the_published_password_outside_development(settings, monkeypatch, how):
    settings.DEBUG = False
    args = ["--password", "demo-password"] if how == "--password" else []
    if how == "DEMO_PASSWORD":
        monkeypatch.setenv("DEMO_PASSWORD", "demo-password")

    with pytest.raises(CommandError, match="Refusing the published password"):
        call_command("seed_demo", "--users", "30", "--days", "1", *args)
    assert not World.objects.exists()
    assert not User.objects.exists()


def test_evaluate_experiment_reads_out_an_ab_test_beside_the_truth_and_leaves_the_database_as_found(capsys):
    args = ["--users", "80", "--train-days", "3", "--test-days", "1", "--seed", "2", "--aa-rounds", "200"]
    call_command("evaluate_experiment", *args, "--json")
    report = json.loads(capsys.readouterr().out)

    true = report["true_effect"]
    assert true["lift"] == pytest.approx((true["learned"] - true["latest"]) / abs(true["latest"]))
    ab = report["ab"]
    assert (ab["variant"], ab["baseline"], ab["true_lift"]) == ("treatment", "control", true["lift"])
    assert ab["covers_true_lift"] == (ab["lift_ci_low"] <= true["lift"] <= ab["lift_ci_high"])
    assert 0 <= report["aa"]["false_positive_rate"] <= 1 and report["aa"]["rounds"] == 200
    assert report["interleaving"]["interleaved"]["teams"] == ["latest", "active"]
    assert report["interleaving"]["learned-vs-challenger-interleaved"]["teams"] == ["active", "challenger"]
    assert set(report["users_needed"]) == {"power", "alpha", "latest_vs_learned", "learned_vs_challenger"}
    assert report["models"]["learned"] != report["models"]["challenger"]
    # All lives split the same people with one salt: the arms hold the same users.
    everyone = report["readouts"]["everyone-latest"]["variants"]
    split = report["readouts"]["latest-vs-learned"]["variants"]
    assert [v["exposed"] for v in everyone] == [v["exposed"] for v in split]
    control = report["readouts"]["latest-vs-learned"]["variants"][0]["metric"]["mean"]
    assert report["interference"]["control_moved"] == pytest.approx(
        (control - everyone[0]["metric"]["mean"]) / abs(everyone[0]["metric"]["mean"])
    )
    assert not World.objects.exists() and not ModelVersion.objects.exists() and not Experiment.objects.exists()

    call_command("evaluate_experiment", *args)
    assert "users for 95 % power" in capsys.readouterr().out
