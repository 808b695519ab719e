"""Synthetic labelled examples with a known signal, and the model benchmark
that trains and serves on them (`make bench-ranking`).

The examples have the exact shape of `ranking.features.Examples`, with
labels drawn from a hidden logistic model of an affinity count, the tweet's
age, whether the text is on the viewer's topic, and spam words, so a model
that learns anything beats the constant predictor. Used by the benchmark
(timings need no database) and by the model tests (seconds, not minutes).

This module does not import TensorFlow; `model_benchmark` imports
ranking.model when it runs.
"""

import time
from dataclasses import dataclass

import numpy as np

from ranking.features import HEADS, NUMERIC_FEATURES, Examples, FeatureBatch

SYNTHETIC_TOPICS = 8
SYNTHETIC_TOPIC_WORDS = [[f"t{topic}w{i}" for i in range(12)] for topic in range(SYNTHETIC_TOPICS)]
SYNTHETIC_COMMON_WORDS = "today really love think just great new this that best week".split()
SYNTHETIC_SPAM_WORDS = "free win prize click link now giveaway cheap deal".split()
ITEMS_PER_REQUEST = 20
# Per-head intercept: rates close to the simulated world's (likes a few per
# hundred, reports a few per ten thousand).
BASE_LOGIT = {"like": -3.2, "reply": -4.8, "retweet": -4.5, "hide": -5.5, "report": -7.0, "dwell": -1.2}


def synthetic_examples(
    *, n: int, seed: int = 0, viewers: int = 500, authors: int = 200, start_s: float = 1.7e9
) -> Examples:
    """`n` impressions in feed requests of ITEMS_PER_REQUEST, in time order."""
    rng = np.random.default_rng(seed)
    viewer_topic = rng.integers(0, SYNTHETIC_TOPICS, size=viewers)
    author_topic = rng.integers(0, SYNTHETIC_TOPICS, size=authors)
    author_spam = rng.random(authors) < 0.05

    request = np.arange(n) // ITEMS_PER_REQUEST
    n_requests = int(request[-1]) + 1 if n else 0
    viewer = rng.integers(0, viewers, size=n_requests)[request]
    author = rng.integers(0, authors, size=n)
    on_topic = viewer_topic[viewer] == author_topic[author]
    spam = author_spam[author]

    width = len(NUMERIC_FEATURES)
    numeric = np.zeros((n, width), dtype=np.float32)
    # Columns cycle through the kinds the real features have: counts, ages in
    # hours, 0/1 flags. The first three carry the signal.
    for column in range(width):
        kind = column % 3
        if kind == 0:
            numeric[:, column] = rng.poisson(2.0, size=n)
        elif kind == 1:
            numeric[:, column] = rng.exponential(12.0, size=n)
        else:
            numeric[:, column] = rng.random(n) < 0.3
    affinity = numeric[:, 0] if width > 0 else np.zeros(n)
    age_h = numeric[:, 1] if width > 1 else np.zeros(n)
    mutual = numeric[:, 2] if width > 2 else np.zeros(n)

    text = np.empty(n, dtype=object)
    for i in range(n):
        words = list(rng.choice(SYNTHETIC_TOPIC_WORDS[author_topic[author[i]]], size=4))
        words += list(rng.choice(SYNTHETIC_COMMON_WORDS, size=2))
        if spam[i]:
            words += list(rng.choice(SYNTHETIC_SPAM_WORDS, size=3))
        text[i] = " ".join(words)

    appeal = 1.5 * on_topic + 1.0 * np.log1p(affinity) + 1.0 * mutual - 0.04 * age_h - 2.5 * spam
    logits = {
        "like": appeal,
        "reply": 0.9 * appeal + 0.8 * mutual,
        "retweet": appeal,
        "hide": -0.8 * appeal + 2.0 * spam,
        "report": -0.5 * appeal + 4.0 * spam,
        "dwell": 0.5 * appeal,
    }
    labels = {
        head: (rng.random(n) < 1 / (1 + np.exp(-(BASE_LOGIT[head] + logits[head])))).astype(np.float32)
        for head in HEADS
    }
    # Requests a couple of minutes apart, items a few seconds apart.
    at = start_s + request * 120.0 + (np.arange(n) % ITEMS_PER_REQUEST) * 4.0
    features = FeatureBatch(
        numeric=numeric,
        text=text,
        viewer_id=(viewer + 1).astype(np.int64),
        author_id=(author + 100_000).astype(np.int64),
    )
    return Examples(
        features=features,
        labels=labels,
        feed_request=np.array([f"request-{r}" for r in request], dtype=object),
        at=at.astype(np.float64),
    )


@dataclass(frozen=True)
class ModelBenchmark:
    examples: int
    epochs: int
    batch_size: int
    train_s: float
    export_s: float
    artifact_bytes: int
    load_s: float
    predict_ms: dict[int, float]  # batch size -> median latency
    candidates_per_s: float  # at the largest batch
    validation: dict

    def as_dict(self) -> dict:
        return {
            "examples": self.examples,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "train_s": self.train_s,
            "export_s": self.export_s,
            "artifact_bytes": self.artifact_bytes,
            "load_s": self.load_s,
            "predict_ms": {str(k): v for k, v in self.predict_ms.items()},
            "candidates_per_s": self.candidates_per_s,
            "validation": self.validation,
        }


def predict_latency_ms(scorer, batch: FeatureBatch, *, calls: int) -> float:
    """Median wall time of `scorer.predict(batch)` over `calls` calls, after a warm-up."""
    for _ in range(5):
        scorer.predict(batch)
    timings = []
    for _ in range(calls):
        began = time.perf_counter()
        scorer.predict(batch)
        timings.append(time.perf_counter() - began)
    return float(np.median(timings) * 1000)


def model_benchmark(
    *, examples: int = 200_000, max_epochs: int | None = None, batches=(1, 100, 1000), calls: int = 300
) -> ModelBenchmark:
    """Train on `examples` synthetic examples the way `train_ranker` does
    (early stopping on the latest tenth, at most `max_epochs` passes; timed,
    data generation not included), export, load, then time
    `Scorer.predict` per batch size."""
    from ranking.evaluation import evaluate
    from ranking.model import Scorer, export_model
    from ranking.training import DEFAULT_EPOCHS, ranker_fit

    data = synthetic_examples(n=examples + examples // 5, seed=1)
    n = len(data.features)
    train, validation = data.subset(np.arange(examples)), data.subset(np.arange(examples, n))

    began = time.perf_counter()
    model, fitting = ranker_fit(train=train, epochs=max_epochs or DEFAULT_EPOCHS)
    train_s = time.perf_counter() - began

    began = time.perf_counter()
    artifact = export_model(model)
    export_s = time.perf_counter() - began
    began = time.perf_counter()
    scorer = Scorer.from_bytes(artifact)
    load_s = time.perf_counter() - began

    predict_ms = {
        size: predict_latency_ms(scorer, validation.subset(np.arange(size)).features, calls=calls) for size in batches
    }
    largest = max(batches)
    return ModelBenchmark(
        examples=examples,
        epochs=fitting["epochs_run"],
        batch_size=fitting["batch_size"],
        train_s=train_s,
        export_s=export_s,
        artifact_bytes=len(artifact),
        load_s=load_s,
        predict_ms=predict_ms,
        candidates_per_s=largest / (predict_ms[largest] / 1000),
        validation=evaluate(scorer.predict(validation.features), validation),
    )
