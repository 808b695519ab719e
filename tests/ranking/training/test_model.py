"""The Keras model, its export and the compiled scorer (imports TensorFlow)."""

import io
import zipfile

import numpy as np
import pytest

from ranking.bench.model import model_benchmark
from ranking.serving import scorer as serving_scorer
from ranking.serving.scorer import IncompatibleModelError, Scorer, model_inputs
from ranking.spec import HEADS, NUMERIC_FEATURES, FeatureBatch
from ranking.training.evaluation import evaluate
from ranking.training.export import export_model
from ranking.training.fit import fit
from ranking.training.network import build_model, positive_rates
from ranking.training.synthetic import synthetic_examples

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data():
    return synthetic_examples(n=6000, seed=7)


@pytest.fixture(scope="module")
def trained(data):
    """A model trained on the first 5,000 examples, and its exported bytes."""
    train = data.subset(np.arange(5000))
    model = build_model(train.features, positive_rates=positive_rates(train))
    history = fit(model, train, epochs=3, batch_size=256)
    return model, export_model(model), history


def keras_predictions(model, batch: FeatureBatch) -> dict[str, np.ndarray]:
    outputs = model(model_inputs(batch), training=False)
    return {head: np.asarray(outputs[head]).reshape(-1) for head in HEADS}


def test_one_named_sigmoid_head_per_action(data):
    model = build_model(data.features)
    assert set(model.output_names) == set(HEADS)
    predictions = keras_predictions(model, data.subset(np.arange(50)).features)
    for head in HEADS:
        assert predictions[head].shape == (50,)
        assert ((predictions[head] > 0) & (predictions[head] < 1)).all()


def test_heads_start_at_the_training_rates(data):
    rates = positive_rates(data)
    model = build_model(data.features, positive_rates=rates)
    predictions = keras_predictions(model, data.subset(np.arange(2000)).features)
    for head in HEADS:
        # Untrained, every head predicts about its base rate, not 0.5.
        assert predictions[head].mean() == pytest.approx(rates[head], rel=0.5)


def test_training_learns_the_signal(data, trained):
    _, artifact, history = trained
    assert history["loss"][-1] < history["loss"][0]
    validation = data.subset(np.arange(5000, 6000))
    metrics = evaluate(Scorer.from_bytes(artifact).predict(validation.features), validation)
    heads = metrics["heads"]
    # Affinity counts, mutual follows and age (numeric) and spam words (text)
    # carry the signal of the synthetic labels.
    assert heads["like"]["roc_auc"] > 0.6
    assert heads["dwell"]["roc_auc"] > 0.54
    for head in ("like", "dwell"):  # calibrated: about as many predicted as observed
        assert heads[head]["mean_predicted"] == pytest.approx(heads[head]["observed_rate"], rel=0.2)


def test_exported_scorer_predicts_what_the_keras_model_does(data, trained):
    model, artifact, _ = trained
    scorer = Scorer.from_bytes(artifact)
    batch = data.subset(np.arange(5000, 5300)).features
    served = scorer.predict(batch)
    expected = keras_predictions(model, batch)
    for head in HEADS:
        assert served[head].dtype == np.float32
        np.testing.assert_allclose(served[head], expected[head], rtol=1e-5, atol=1e-6)
    # One candidate, and the same candidate in a batch, score the same.
    single = scorer.predict(data.subset(np.arange(5000, 5001)).features)
    assert single["like"][0] == pytest.approx(served["like"][0], rel=1e-5)


def test_scorer_takes_unseen_ids_empty_text_and_empty_batches(trained):
    _, artifact, _ = trained
    scorer = Scorer.from_bytes(artifact)
    batch = FeatureBatch(
        np.full((2, len(NUMERIC_FEATURES)), 3.0, np.float32),
        np.array(["", "never seen words ümlaut 🎉"], dtype=object),
        np.array([10**12, 7], dtype=np.int64),
        np.array([5, 10**15], dtype=np.int64),
    )
    predictions = scorer.predict(batch)
    assert all(np.isfinite(predictions[head]).all() and predictions[head].shape == (2,) for head in HEADS)
    empty = scorer.predict(batch.subset(np.arange(0)))
    assert all(empty[head].shape == (0,) for head in HEADS)


def test_a_model_of_other_features_or_heads_is_refused(trained, monkeypatch):
    _, artifact, _ = trained
    scorer = Scorer.from_bytes(artifact)
    monkeypatch.setattr(serving_scorer, "NUMERIC_FEATURES", (*NUMERIC_FEATURES, "new_feature"))
    with pytest.raises(IncompatibleModelError, match="feature spec"):
        scorer.predict(FeatureBatch(np.zeros((1, len(NUMERIC_FEATURES) + 1), np.float32), *([np.zeros(1)] * 3)))
    monkeypatch.setattr(serving_scorer, "HEADS", (*HEADS, "bookmark"))
    with pytest.raises(IncompatibleModelError, match="predicts"):
        Scorer.from_bytes(artifact)


def test_an_archive_cannot_write_outside_its_directory():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../escaped.txt", "x")
    with pytest.raises(ValueError, match="unsafe path"):
        Scorer.from_bytes(buffer.getvalue())


def test_fit_needs_examples(data):
    with pytest.raises(ValueError, match="no training examples"):
        fit(build_model(data.features), data.subset(np.arange(0)), epochs=1)


def test_model_benchmark_reports_training_and_serving_figures():
    result = model_benchmark(examples=1000, max_epochs=1, batches=(1, 10), calls=3)
    figures = result.as_dict()
    assert figures["examples"] == 1000
    assert figures["epochs"] == 1
    assert set(figures["predict_ms"]) == {"1", "10"}
    assert result.candidates_per_s > 0
    assert result.artifact_bytes > 0
    assert figures["validation"]["examples"] == 200
