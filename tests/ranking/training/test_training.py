"""Training end to end: examples -> split by time -> train -> evaluate against
the active model -> register -> promote (imports TensorFlow)."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from feed import services
from ranking.management.commands.train_ranker import metrics_table
from ranking.models import ModelVersion
from ranking.registry import active_version, register, version_activate
from ranking.serving.scorer import Scorer
from ranking.spec import FEATURE_SPEC_VERSION, Examples
from ranking.tasks import train_ranker_task
from ranking.training import train as training
from ranking.training.builder import write_examples
from ranking.training.export import export_model
from ranking.training.fit import fit, ranker_fit
from ranking.training.network import build_model, positive_rates
from ranking.training.synthetic import synthetic_examples
from simulator.simulation import simulate
from tests.factories import UserFactory, tweet

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
Status = ModelVersion.Status


@pytest.fixture(scope="module")
def examples() -> Examples:
    return synthetic_examples(n=2000, seed=11)


@pytest.fixture
def log_holds(monkeypatch):
    """Make the event log yield the given examples (features and labels as
    ranking.training.examples would build them from it)."""

    def use(examples: Examples) -> None:
        monkeypatch.setattr(
            training,
            "build_training_shards",
            lambda *, since, until, directory: write_examples(examples, directory / "shards"),
        )

    return use


def activate(model) -> ModelVersion:
    version = register(artifact=export_model(model), metrics={}, feature_spec_version=FEATURE_SPEC_VERSION)
    return version_activate(version=version)


def test_time_split_validates_on_the_latest_whole_requests():
    at = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], dtype=np.float64)
    requests = np.array(["a", "a", "b", "b", "c", "c", "d", "d", "d", ""], dtype=object)
    data = Examples(None, {}, requests, at)
    train, validation = training.time_split(data, validation_share=0.3)
    # The latest 30% start at t=7, inside request "d": "d" goes where it began (t=6).
    assert validation.tolist() == [False] * 6 + [True] * 4
    assert (train == ~validation).all()
    with pytest.raises(ValueError):
        training.time_split(data, validation_share=1.0)


def test_an_empty_log_is_refused_and_nothing_registered():
    with pytest.raises(training.TrainingError, match="No impressions"):
        training.train_ranker()
    assert not ModelVersion.objects.exists()


def test_impressions_whose_attribution_window_is_open_are_not_trained_on():
    viewer, author = UserFactory.create_batch(2)
    posted = tweet(author, "posted just now")
    services.engagements_log(
        user=viewer, events=[services.ClientEvent(posted.pk, "impression")], at=timezone.now() - timedelta(minutes=10)
    )

    with pytest.raises(training.TrainingError, match="No impressions"):
        training.train_ranker(until=timezone.now() + timedelta(days=1))
    assert not ModelVersion.objects.exists()


def test_too_little_data_is_refused(log_holds, examples):
    log_holds(examples.subset(np.arange(150)))
    with pytest.raises(training.TrainingError, match="Too little data"):
        training.train_ranker()
    assert not ModelVersion.objects.exists()


def test_a_log_without_likes_is_refused(log_holds, examples):
    labels = {**examples.labels, "like": np.zeros_like(examples.labels["like"])}
    log_holds(Examples(examples.features, labels, examples.feed_request, examples.at))
    with pytest.raises(training.TrainingError, match="no positive 'like'"):
        training.train_ranker()
    assert not ModelVersion.objects.exists()


def fitted_on_validation(examples: Examples, *, inverted: bool):
    """A model fitted on the validation slice itself: it ranks that slice far
    better than any honest model, or (labels inverted) far worse."""
    _, validation_mask = training.time_split(examples, validation_share=0.2)
    seen = examples.subset(validation_mask)
    if inverted:
        seen = Examples(seen.features, {h: 1 - y for h, y in seen.labels.items()}, seen.feed_request, seen.at)
    model = build_model(seen.features, positive_rates=positive_rates(seen))
    fit(model, seen, epochs=30, batch_size=64)
    return model


def test_a_model_that_ranks_better_than_the_active_one_replaces_it(log_holds, examples, capsys):
    log_holds(examples)
    worse = activate(fitted_on_validation(examples, inverted=True))

    call_command("train_ranker", "--epochs", "1", "--since", "2020-01-01", "--until", "2030-12-31")

    version = active_version()
    assert version != worse
    assert version.previous == worse
    assert ModelVersion.objects.get(pk=worse.pk).status == Status.RETIRED
    assert version.metrics["ndcg_at_10"] > version.metrics["baseline"]["ndcg_at_10"]
    assert version.metrics["baseline"]["version"] == worse.name
    assert version.metrics["decision"].startswith("NDCG@10") and "beats" in version.metrics["decision"]
    assert set(version.metrics["heads"]) == {"like", "reply", "retweet", "hide", "report", "dwell"}
    assert version.metrics["training"]["epochs_run"] == 1
    assert version.n_train + version.n_validation == 2000
    assert version.n_validation == pytest.approx(400, abs=20)
    assert version.feature_spec_version == FEATURE_SPEC_VERSION
    assert version.window_start == datetime.fromtimestamp(examples.at.min(), tz=UTC)
    # What is stored is what serves.
    assert Scorer.from_bytes(bytes(version.artifact)).predict(examples.features)["like"].shape == (2000,)
    # The command printed the table, the active model side by side, and the decision.
    out = capsys.readouterr().out
    for head in ("like", "reply", "retweet", "hide", "report", "dwell"):
        assert head in out
    assert "NDCG@10" in out and "roc_auc" in out and f"{worse.name} roc_auc" in out
    assert f"{version.name} activated: NDCG@10" in out


def test_a_model_that_ranks_worse_stays_a_candidate(log_holds, examples):
    log_holds(examples)
    better = activate(fitted_on_validation(examples, inverted=False))

    result = training.train_ranker(epochs=1)

    assert not result.activated
    assert "does not beat" in result.reason
    assert result.metrics["ndcg_at_10"] < result.baseline["ndcg_at_10"]
    assert active_version() == better
    assert ModelVersion.objects.get(pk=result.version.pk).status == Status.CANDIDATE


def test_a_challenger_for_an_experiment_stays_a_candidate_even_when_it_would_win(log_holds, examples, capsys):
    log_holds(examples)
    worse = activate(fitted_on_validation(examples, inverted=True))

    call_command("train_ranker", "--epochs", "1", "--candidate")

    challenger = ModelVersion.objects.exclude(pk=worse.pk).get()
    assert challenger.status == Status.CANDIDATE and active_version() == worse
    assert challenger.metrics["decision"] == "registered as a candidate on request"
    assert f"{challenger.name} registered as a candidate" in capsys.readouterr().out
    with pytest.raises(CommandError, match="not allowed with argument"):
        call_command("train_ranker", "--activate", "--candidate")


def fit_metrics(*, ndcg: float | None, like_auc: float = 0.7, chronological: float = 0.05) -> dict:
    """Validation metrics of a model fit to serve (see training._unfit) unless told otherwise."""
    return {"heads": {"like": {"roc_auc": like_auc}}, "ndcg_at_10": ndcg, "chronological_ndcg_at_10": chronological}


def test_activation_can_be_forced_and_is_free_when_nothing_is_active():
    active = ModelVersion(name="v1")
    worse = fit_metrics(ndcg=0.1)
    assert training._decide(
        activate=True, metrics=worse, active=active, baseline={"ndcg_at_10": 0.9}, incompatible=""
    ) == (True, "activated on request")
    assert training._decide(activate=False, metrics=worse, active=None, baseline=None, incompatible="") == (
        True,
        "no version was active",
    )


def test_an_active_model_of_another_feature_spec_is_replaced(log_holds, examples, monkeypatch):
    log_holds(examples)
    stale = activate(build_model(examples.features))
    monkeypatch.setattr("ranking.serving.scorer.NUMERIC_FEATURES", ("only", "two"))
    _, baseline, why = training._baseline(examples)
    assert baseline is None and "feature spec" in why
    activated, reason = training._decide(
        activate=False, metrics=fit_metrics(ndcg=0.3), active=stale, baseline=None, incompatible=why
    )
    assert activated and "cannot score" in reason


def test_an_active_model_that_cannot_be_loaded_is_replaced(examples):
    broken = version_activate(
        version=register(artifact=b"not a zip", metrics={}, feature_spec_version=FEATURE_SPEC_VERSION)
    )
    active, baseline, why = training._baseline(examples)
    assert active == broken and baseline is None
    assert "cannot be loaded" in why


def test_one_long_feed_request_trains_without_early_stopping(examples):
    one_request = examples.subset(np.arange(300))
    one_request = Examples(one_request.features, one_request.labels, np.full(300, "r", dtype=object), one_request.at)
    _, summary = ranker_fit(train=one_request, epochs=1)
    assert summary["n_fit"] == 300
    assert summary["n_early_stopping"] == 0
    assert summary["best_epoch"] == 1


def test_decision_without_a_defined_ndcg_keeps_the_active_model():
    active = ModelVersion(name="v1")
    activated, reason = training._decide(
        activate=False, metrics=fit_metrics(ndcg=None), active=active, baseline={"ndcg_at_10": 0.5}, incompatible=""
    )
    assert not activated and "undefined" in reason


def test_metrics_table_shows_undefined_metrics_as_dashes():
    row = {"roc_auc": None, "pr_auc": None, "rce": None, "mean_predicted": 0.01, "observed_rate": 0.0, "positives": 0}
    metrics = {"heads": dict.fromkeys(("like", "reply", "retweet", "hide", "report", "dwell"), row)}
    table = metrics_table({**metrics, "ndcg_at_10": None, "ndcg_requests": 0}, None)
    assert table.splitlines()[5].split() == ["report", "-", "-", "-", "0.0100", "0.0000", "0"]
    assert table.endswith("NDCG@10: - over 0 feed requests")


def test_train_ranker_command_explains_a_refusal():
    with pytest.raises(CommandError, match="No impressions"):
        call_command("train_ranker")
    with pytest.raises(CommandError, match="before"):
        call_command("train_ranker", "--since", "2026-02-01", "--until", "2026-01-01")
    with pytest.raises(CommandError, match="not a date"):
        call_command("train_ranker", "--since", "yesterday")


def test_training_task_reports_instead_of_failing_on_an_empty_log():
    outcome = train_ranker_task.apply().get()
    assert not outcome["trained"]
    assert "No impressions" in outcome["reason"]
    assert not ModelVersion.objects.exists()


def test_training_task_goes_to_the_training_queue():
    from config.celery import app

    route = app.amqp.router.route({}, train_ranker_task.name)
    assert route["queue"].name == "training"


def test_training_on_a_simulated_world(settings):
    """From the real event log of a tiny simulated world, through the real
    feature builder: a model is trained, registered and activated."""
    start = datetime(2026, 3, 2, tzinfo=UTC)
    simulate(users=60, days=3, seed=1, mode="latest", start=start)

    outcome = train_ranker_task.apply(kwargs={"days": None}).get()

    assert outcome["trained"] and outcome["activated"], outcome
    version = active_version()
    assert version.name == outcome["version"]
    assert version.n_train >= training.MIN_TRAIN_EXAMPLES
    assert start <= version.window_start < version.window_end < start + timedelta(days=3)
