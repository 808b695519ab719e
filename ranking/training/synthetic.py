"""Synthetic labelled examples with a known signal, for the model's tests and
benchmarks (seconds, not minutes, and no database).

The examples have the exact shape of `ranking.spec.Examples`, with
labels drawn from a hidden logistic model of an affinity count, the tweet's
age, whether the text is on the viewer's topic, and spam words, so a model
that learns anything beats the constant predictor. No TensorFlow here.
"""

import numpy as np

from ranking.spec import HEADS, NUMERIC_FEATURES, Examples, FeatureBatch

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
