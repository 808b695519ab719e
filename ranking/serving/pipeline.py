"""Building a ranked feed, in a feeds worker: candidates -> features ->
scoring with the active model -> heuristics and reasons -> the stored list."""

import logging
import time
from datetime import datetime

import numpy as np
from django.conf import settings
from django.utils import timezone

from config import telemetry
from ranking.serving.candidates import Source, candidates_for, own_recent
from ranking.serving.features import serving_features
from ranking.serving.heuristics import author_diversity, network_first
from ranking.serving.reasons import candidate_reasons
from ranking.serving.scorer import IncompatibleModelError, LoadedModel, active_model
from ranking.spec import FEATURE_SPEC_FINGERPRINT, as_of, weighted_sum
from ranking.store import OWN_TWEET_REASON, RankedFeed, RankedItem, ranked_feed_store, ranking_unavailable_mark
from users.models import User

logger = logging.getLogger(__name__)


class Stopwatch:
    """Seconds per stage of a build, into `laps`."""

    def __init__(self, laps: dict):
        self.laps, self.last = laps, time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = now - self.last
        self.last = now


def feed_rank(*, user_id: int, at: datetime, model: LoadedModel, timings: dict | None = None) -> RankedFeed:
    """Rank every candidate of `user_id`'s feed at `at` (rounded down to its
    whole millisecond, as training counts) with `model`, under the viewer's
    own tweets of the last minutes, pinned on top unscored. The feed keeps
    the float32 feature row each scored item was scored with (`features`).
    Each stage's seconds go to the metrics, and into `timings` when given
    (for benchmarks)."""
    clock = Stopwatch({} if timings is None else timings)
    at = as_of(at)
    candidate_set = candidates_for(viewer_id=user_id, at=at)
    candidates = candidate_set.candidates
    pinned = [RankedItem(tweet_id, None, (OWN_TWEET_REASON,)) for tweet_id in own_recent(viewer_id=user_id, at=at)]
    clock.lap("candidates")
    features = serving_features(candidate_set=candidate_set, at=at)
    clock.lap("features")
    if not candidates:
        telemetry.feed_build_observe(stages=clock.laps, candidates=0)
        return RankedFeed(user_id, model.name, at, pinned, feature_spec=FEATURE_SPEC_FINGERPRINT)
    # The metric's own weights: the ranker optimises what the metric measures.
    scores = weighted_sum(model.scorer.predict(features))
    clock.lap("scoring")
    order, adjusted = author_diversity(scores, features.author_id)
    order = network_first(order, np.array([c.source in Source.FILL for c in candidates]))
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
    # Little-endian float32, exactly what the model was given: the read path
    # copies each served item's row into its ServedItem.
    served_rows = features.numeric[order].astype("<f4")
    scored = {candidate.tweet_id: row.tobytes() for candidate, row in zip(shown, served_rows, strict=True)}
    return RankedFeed(
        user_id, model.name, at, [*pinned, *items], feature_spec=FEATURE_SPEC_FINGERPRINT, features=scored
    )


def feed_build(*, user_id: int, at: datetime | None = None) -> RankedFeed | None:
    """Build and store `user_id`'s ranked list. Without a model to rank with
    (none active, or none that loads) the user keeps the chronological
    feed, and reads say ranking is "off" for a while rather than "pending"."""
    try:
        model = active_model()
        if model is None:
            logger.warning("No ranking model can be used: user %s keeps the chronological feed", user_id)
            ranking_unavailable_mark(reason="no ranking model can be loaded")
            return None
        feed = feed_rank(user_id=user_id, at=at or timezone.now(), model=model)
    except IncompatibleModelError:
        # Trained on other features than the ones served now: the next
        # training replaces it; until then, the chronological feed.
        logger.exception("The active ranking model cannot score today's features")
        ranking_unavailable_mark(reason="the active ranking model cannot score today's features")
        return None
    ranked_feed_store(feed=feed)
    return feed
