"""Building a ranked feed, in a feeds worker: candidates -> features ->
scoring with the active model -> heuristics -> the stored list."""

import logging
import time
from datetime import datetime

import numpy as np
from django.conf import settings
from django.utils import timezone

from config import telemetry
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
    by_score = np.argsort(-scores, kind="stable")
    # k of each tweet: its place among its author's tweets, in score order.
    by_author = by_score[np.argsort(author_ids[by_score], kind="stable")]
    sorted_authors = author_ids[by_author]
    first_of_author = np.r_[True, sorted_authors[1:] != sorted_authors[:-1]]
    place = np.arange(len(by_author))
    k = np.empty(len(scores), dtype=np.int64)
    k[by_author] = place - np.maximum.accumulate(np.where(first_of_author, place, 0))
    discount = 0.75 * 0.5**k + 0.25
    adjusted = np.where(scores > 0, scores * discount, scores / discount)
    return np.argsort(-adjusted, kind="stable"), adjusted


def feed_rank(*, user_id: int, at: datetime, model: LoadedModel, timings: dict | None = None) -> RankedFeed:
    """Rank every candidate of `user_id`'s feed at `at` with `model`.
    `timings`, when given, receives each stage's seconds (for benchmarks)."""
    clock = Stopwatch({} if timings is None else timings)
    candidate_set = candidates_for(viewer_id=user_id, at=at)
    candidates = candidate_set.candidates
    clock.lap("candidates")
    features = serving_features(candidate_set=candidate_set, at=at)
    clock.lap("features")
    if not candidates:
        telemetry.feed_build_observe(stages=clock.laps, candidates=0)
        return RankedFeed(user_id, model.name, at, [])
    # The metric's own weights: the ranker optimises what the metric measures.
    scores = weighted_sum(model.scorer.predict(features))
    clock.lap("scoring")
    order, adjusted = author_diversity(scores, features.author_id)
    order = order[: settings.RANKED_FEED_MAX_ITEMS]  # what the stored list keeps
    shown = [candidates[i] for i in order]
    people = {c.author_id for c in shown} | {c.via_user_id for c in shown if c.via_user_id}
    names = dict(User.objects.filter(pk__any=list(people)).values_list("pk", "username"))
    # Rows as Python lists: the reasons read a few values of each, and a
    # list index costs a fraction of a numpy scalar's.
    rows = features.numeric[order].tolist()
    items = [
        RankedItem(
            candidate.tweet_id,
            score,
            tuple(candidate_reasons(candidate=candidate, features=row, names=names)),
        )
        for candidate, score, row in zip(shown, adjusted[order].tolist(), rows, strict=True)
    ]
    clock.lap("heuristics")
    telemetry.feed_build_observe(stages=clock.laps, candidates=len(candidates))
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
