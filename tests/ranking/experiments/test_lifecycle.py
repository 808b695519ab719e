import os
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from ranking.experiments.assignment import running_experiment
from ranking.experiments.lifecycle import (
    ExperimentError,
    VariantSpec,
    experiment_create,
    experiment_ship,
    experiment_start,
    experiment_stop,
)
from ranking.models import Experiment, ModelVersion, Variant
from ranking.registry import active_version, register, version_activate
from ranking.spec import FEATURE_SPEC_VERSION

pytestmark = pytest.mark.django_db
Status = Experiment.Status


def version(**kwargs) -> ModelVersion:
    spec = kwargs.pop("feature_spec_version", FEATURE_SPEC_VERSION)
    return register(artifact=b"zipped savedmodel", metrics={}, feature_spec_version=spec, **kwargs)


def start(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command("experiment_start", *args, stdout=out)
    return out.getvalue()


def rows() -> tuple[int, int, list]:
    return Experiment.objects.count(), Variant.objects.count(), list(Experiment.objects.values_list("name", "status"))


def test_start_writes_a_running_ab_test_with_its_variants():
    v = version()
    out = start("new-ranker", "--variant", "control=latest:50", "--variant", f"treatment={v.name}:40")

    experiment = Experiment.objects.get()
    assert (experiment.status, experiment.design, experiment.salt) == (Status.RUNNING, "ab", "new-ranker")
    assert experiment.started_at is not None
    assert [(x.name, x.ranker, x.weight) for x in experiment.variants.all()] == [
        ("control", "latest", 50),
        ("treatment", v.name, 40),
    ]
    assert out.strip() == f"Started A/B test new-ranker: control=latest 50%, treatment={v.name} 40% (salt new-ranker)."
    # Every process sees it at once: the cached "none" was dropped.
    assert running_experiment().name == "new-ranker"


def test_start_interleaving_names_the_teams_after_their_rankers():
    start("pruning", "--interleave", "latest", "active", "--salt", "s1", "--description", "latest vs the model")

    experiment = Experiment.objects.get()
    assert (experiment.design, experiment.salt, experiment.description) == ("interleave", "s1", "latest vs the model")
    assert [(x.name, x.ranker) for x in experiment.variants.all()] == [("latest", "latest"), ("active", "active")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--variant", "a=latest:50", "--variant", "b=nosuchmodel:50"], "Unknown ranker 'nosuchmodel'"),
        (["--variant", "a=latest:0", "--variant", "b=active:50"], "weight is a percent of users, 1 to 100"),
        (["--variant", "a=latest:-5", "--variant", "b=active:50"], "weight is a percent of users, 1 to 100"),
        (["--variant", "a=latest:60", "--variant", "b=active:50"], "add up to more than 100"),
        (["--variant", "a=latest:50"], "at least two variants"),
        (["--variant", "a=latest:50", "--variant", "a=active:50"], "a name of its own"),
        (["--variant", "a-latest-50", "--variant", "b=active:50"], "write it as name=ranker:weight"),
        (["--interleave", "active", "active"], "two different rankers"),
        ([], "either --variant"),
    ],
)
def test_a_bad_start_is_one_line_and_writes_nothing(args, message):
    before = rows()
    with pytest.raises(CommandError, match=message):
        start("bad", *args)
    assert rows() == before


def test_a_retired_or_other_spec_version_is_refused():
    old = version()
    version_activate(version=old)
    version_activate(version=version())  # retires `old`
    other_spec = version(feature_spec_version=FEATURE_SPEC_VERSION - 1)

    with pytest.raises(CommandError, match="retired"):
        start("x", "--variant", f"a={old.name}:50", "--variant", "b=latest:50")
    with pytest.raises(CommandError, match="feature spec"):
        start("x", "--variant", f"a={other_spec.name}:50", "--variant", "b=latest:50")
    assert not Experiment.objects.exists()


def test_a_duplicate_name_or_a_second_running_experiment_is_refused():
    start("first", "--variant", "a=latest:50", "--variant", "b=active:50")
    before = rows()

    with pytest.raises(CommandError, match="named first exists already"):
        start("first", "--variant", "a=latest:50", "--variant", "b=active:50")
    with pytest.raises(CommandError, match="Experiment first is running: stop it"):
        start("second", "--variant", "a=latest:50", "--variant", "b=active:50")
    assert rows() == before

    call_command("experiment_stop", "first", stdout=None)
    start("second", "--variant", "a=latest:50", "--variant", "b=active:50")
    assert rows()[2] == [("second", Status.RUNNING), ("first", Status.STOPPED)]


def test_the_database_holds_one_running_experiment_even_if_the_check_is_raced():
    from django.db import IntegrityError, transaction

    start("first", "--variant", "a=latest:50", "--variant", "b=active:50")
    draft = experiment_create(name="second", variants=[VariantSpec("a", "latest", 50), VariantSpec("b", "active", 50)])
    with pytest.raises(IntegrityError), transaction.atomic():
        Experiment.objects.filter(pk=draft.pk).update(status=Status.RUNNING)


def test_stop_and_its_errors():
    start("exp", "--variant", "a=latest:50", "--variant", "b=active:50")
    call_command("experiment_stop", "exp", stdout=None)
    experiment = Experiment.objects.get()
    assert experiment.status == Status.STOPPED and experiment.stopped_at is not None
    assert running_experiment() is None

    with pytest.raises(CommandError, match="is stopped, not running"):
        call_command("experiment_stop", "exp")
    with pytest.raises(CommandError, match="No experiment is named nope"):
        call_command("experiment_stop", "nope")
    with pytest.raises(ExperimentError, match="only a draft starts"):
        experiment_start(experiment=experiment)


def test_a_refused_command_exits_with_status_1_and_one_line():
    database = connection.settings_dict
    url = f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    result = subprocess.run(
        [sys.executable, "manage.py", "experiment_start", "x", "--variant", "a=latest:50", "--variant", "b=v0:50"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "DATABASE_URL": url},
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "CommandError: Unknown ranker 'v0': use latest, active or a model version's name."
    ]


def test_ship_activates_the_winning_version_and_stops_the_experiment():
    current, challenger = version(), version()
    version_activate(version=current)
    start("exp", "--variant", "control=active:50", "--variant", f"treatment={challenger.name}:50")
    experiment = Experiment.objects.get()

    shipped = experiment_ship(experiment=experiment, variant=experiment.variants.get(name="treatment"))

    assert shipped == challenger and active_version() == challenger
    experiment.refresh_from_db()
    assert experiment.status == Status.STOPPED


def test_ship_refuses_the_chronological_feed_and_a_missing_active_model():
    start("exp", "--variant", "control=latest:50", "--variant", "treatment=active:50")
    experiment = Experiment.objects.get()

    with pytest.raises(ExperimentError, match="no model to ship"):
        experiment_ship(experiment=experiment, variant=experiment.variants.get(name="control"))
    with pytest.raises(ExperimentError, match="No model version is active"):
        experiment_ship(experiment=experiment, variant=experiment.variants.get(name="treatment"))
    experiment.refresh_from_db()
    assert experiment.status == Status.RUNNING


def test_a_stopped_experiment_can_still_be_shipped():
    challenger = version()
    start("exp", "--variant", "control=latest:50", "--variant", f"treatment={challenger.name}:50")
    experiment = experiment_stop(experiment=Experiment.objects.get())

    experiment_ship(experiment=experiment, variant=experiment.variants.get(name="treatment"))

    assert active_version() == challenger
