"""Building a ranked feed, in a feeds worker: candidates -> features ->
scoring with the active model -> heuristics -> the stored list."""

import logging
import time
from collections import Counter
from datetime import datetime

import numpy as np
from django.conf import settings
from django.utils import timezone

from ranking.candidates import candidates_for
from ranking.evaluation import weighted_sum
from ranking.features import candidate_reasons, serving_features
from ranking.feeds import RankedFeed, RankedItem, ranked_feed_store
from ranking.scoring import LoadedModel, active_model
from users.models import User

logger = logging.getLogger(__name__)


class Stopwatch:
    """Seconds per stage of a build, into `laps` when one is given."""

    def __init__(self, laps: dict | None):
        self.laps, self.last = laps, time.perf_counter()

    def lap(self, name: str) -> None:
        if self.laps is not None:
            now = time.perf_counter()
            self.laps[name] = now - self.last
            self.last = now


def author_diversity(scores: np.ndarray, author_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """No long runs of one author: in score order, an author's k-th tweet
    (k from 0) is discounted by 0.75 * 0.5**k + 0.25 (Twitter's published
    heuristic). A negative score is divided by the discount instead, so a
    discount always lowers. Returns (final order, discounted scores)."""
    adjusted = scores.astype(np.float64).copy()
    seen: Counter = Counter()
    for i in np.argsort(-scores, kind="stable"):
        discount = 0.75 * 0.5 ** seen[author_ids[i]] + 0.25
        adjusted[i] = adjusted[i] * discount if adjusted[i] > 0 else adjusted[i] / discount
        seen[author_ids[i]] += 1
    return np.argsort(-adjusted, kind="stable"), adjusted


def feed_rank(*, user_id: int, at: datetime, model: LoadedModel, timings: dict | None = None) -> RankedFeed:
    """Rank every candidate of `user_id`'s feed at `at` with `model`.
    `timings`, when given, receives each stage's seconds (for benchmarks)."""
    clock = Stopwatch(timings)
    candidate_set = candidates_for(viewer_id=user_id, at=at)
    candidates = candidate_set.candidates
    clock.lap("candidates")
    features = serving_features(candidate_set=candidate_set, at=at)
    clock.lap("features")
    if not candidates:
        return RankedFeed(user_id, model.name, at, [])
    # The metric's own weights: the ranker optimises what the metric measures.
    scores = weighted_sum(model.scorer.predict(features))
    clock.lap("scoring")
    order, adjusted = author_diversity(scores, features.author_id)
    order = order[: settings.RANKED_FEED_MAX_ITEMS]  # what the stored list keeps
    shown = [candidates[i] for i in order]
    people = {c.author_id for c in shown} | {c.via_user_id for c in shown if c.via_user_id}
    names = dict(User.objects.filter(pk__in=people).values_list("pk", "username"))
    items = [
        RankedItem(
            candidates[i].tweet_id,
            float(adjusted[i]),
            tuple(candidate_reasons(candidate=candidates[i], features=features.numeric[i], names=names)),
        )
        for i in order
    ]
    clock.lap("heuristics")
    return RankedFeed(user_id, model.name, at, items)


def feed_build(*, user_id: int, at: datetime | None = None) -> RankedFeed | None:
    """Build and store `user_id`'s ranked list. Without an active model there
    is nothing to rank with: the user keeps the chronological feed."""
    from ranking.model import IncompatibleModelError

    try:
        model = active_model()
        if model is None:
            logger.warning("No active ranking model: user %s keeps the chronological feed", user_id)
            return None
        feed = feed_rank(user_id=user_id, at=at or timezone.now(), model=model)
    except IncompatibleModelError:
        # Trained on other features than the ones served now: the next
        # training replaces it; until then, the chronological feed.
        logger.exception("The active ranking model cannot score today's features")
        return None
    ranked_feed_store(feed=feed)
    return feed
