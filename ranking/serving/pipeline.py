"""Building a ranked feed, in a feeds worker: candidates -> features ->
scoring with the model(s) the user's feed is ranked by -> heuristics and
reasons -> the stored list.

Which models: the active one for users in no experiment; the one their
variant names in an A/B test; two, merged by team-draft interleaving, in an
interleaving experiment. Candidates and features are computed once per
build, whatever the number of rankers."""

import logging
import time
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.conf import settings
from django.utils import timezone

from config import telemetry
from feed.selectors import timeline_latest
from ranking.experiments.assignment import Assignment, assignment_for
from ranking.experiments.interleaving import team_draft
from ranking.experiments.lifecycle import ACTIVE, LATEST
from ranking.serving.candidates import Candidate, Source, candidates_for, own_recent
from ranking.serving.features import serving_features
from ranking.serving.heuristics import author_diversity, network_first
from ranking.serving.reasons import candidate_reasons
from ranking.serving.scorer import IncompatibleModelError, LoadedModel, active_model, model_for
from ranking.spec import FEATURE_SPEC_FINGERPRINT, FeatureBatch, as_of, weighted_sum
from ranking.store import (
    OWN_TWEET_REASON,
    RankedFeed,
    RankedItem,
    ranked_feed_store,
    ranking_unavailable_mark,
)
from users.models import User

logger = logging.getLogger(__name__)


class Stopwatch:
    """Seconds per stage of a build, into `laps` (a stage timed twice, as
    scoring with two models, adds up)."""

    def __init__(self, laps: dict):
        self.laps, self.last = laps, time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = self.laps.get(name, 0.0) + now - self.last
        self.last = now


@dataclass(frozen=True)
class BuildInputs:
    """What every ranker of one build orders, computed once: the viewer's
    candidates at `at`, their features, and the viewer's own recent tweets
    (pinned on top, unscored, by no ranker)."""

    user_id: int
    at: datetime
    candidates: list[Candidate]
    features: FeatureBatch
    pinned: list[RankedItem]

    def index(self) -> dict[int, int]:
        """Tweet id -> its candidate's row."""
        return {candidate.tweet_id: i for i, candidate in enumerate(self.candidates)}


@dataclass(frozen=True)
class Ranking:
    """One ranker's order of a build's items, best first, with the score it
    gave each (none for the chronological ranker)."""

    ranker: str  # a model version's name, or "latest"
    tweet_ids: list[int]
    scores: dict[int, float]


def build_inputs(*, user_id: int, at: datetime, clock: Stopwatch) -> BuildInputs:
    candidate_set = candidates_for(viewer_id=user_id, at=at)
    pinned = [RankedItem(tweet_id, None, (OWN_TWEET_REASON,)) for tweet_id in own_recent(viewer_id=user_id, at=at)]
    clock.lap("candidates")
    features = serving_features(candidate_set=candidate_set, at=at)
    clock.lap("features")
    return BuildInputs(user_id, at, candidate_set.candidates, features, pinned)


def model_ranking(*, inputs: BuildInputs, model: LoadedModel, clock: Stopwatch) -> Ranking:
    """`model`'s order of the candidates: scored, then the heuristics,
    trimmed to what a stored list keeps."""
    if not inputs.candidates:
        return Ranking(model.name, [], {})
    # The metric's own weights: the ranker optimises what the metric measures.
    scores = weighted_sum(model.scorer.predict(inputs.features))
    clock.lap("scoring")
    order, adjusted = author_diversity(scores, inputs.features.author_id)
    order = network_first(order, np.array([c.source in Source.FILL for c in inputs.candidates]))
    order = order[: settings.RANKED_FEED_MAX_ITEMS]
    tweet_ids = [inputs.candidates[i].tweet_id for i in order.tolist()]
    ranking = Ranking(model.name, tweet_ids, dict(zip(tweet_ids, adjusted[order].tolist(), strict=True)))
    clock.lap("heuristics")
    return ranking


def latest_ranking(*, inputs: BuildInputs, clock: Stopwatch) -> Ranking:
    """The chronological ranker's order: the viewer's latest timeline as of
    the build, as the web side serves it. A retweet stands for its original,
    as among the candidates, so that one tweet is never placed twice (once
    by each team); the pinned own tweets are on top already."""
    viewer = User.objects.get(pk=inputs.user_id)
    # Strictly before the build's time, as the candidates are. The timeline
    # lists each original once, at its newest retweet.
    timeline = timeline_latest(viewer=viewer, before=None, limit=settings.RANKED_FEED_MAX_ITEMS, as_of=inputs.at)
    pinned = {item.tweet_id for item in inputs.pinned}
    tweet_ids = [tweet_id for tweet_id in (t.retweet_of_id or t.pk for t in timeline) if tweet_id not in pinned]
    clock.lap("candidates")
    return Ranking(LATEST, tweet_ids, {})


def ranked_items(
    *, inputs: BuildInputs, picks: list[tuple[int, float | None, str]]
) -> tuple[list[RankedItem], dict[int, bytes]]:
    """The stored items for `picks` (tweet id, score, team), in order, each
    with its reasons, and the feature row of each candidate among them
    (little-endian float32, exactly what the models were given: the read
    path copies each served item's row into its ServedItem)."""
    row_of = inputs.index()
    rows = [row_of[tweet_id] for tweet_id, _, _ in picks if tweet_id in row_of]
    scored = [inputs.candidates[row] for row in rows]
    people = {c.author_id for c in scored} | {c.via_user_id for c in scored if c.via_user_id}
    names = dict(User.objects.filter(pk__any=list(people)).values_list("pk", "username"))
    numeric = inputs.features.numeric[rows]
    # Rows as Python lists: the reasons read a few values of each, and a
    # list index costs a fraction of a numpy scalar's.
    reasons = {
        candidate.tweet_id: tuple(candidate_reasons(candidate=candidate, features=row, names=names))
        for candidate, row in zip(scored, numeric.tolist(), strict=True)
    }
    items = [RankedItem(tweet_id, score, reasons.get(tweet_id, ()), team) for tweet_id, score, team in picks]
    features = {c.tweet_id: row.tobytes() for c, row in zip(scored, numeric.astype("<f4"), strict=True)}
    return items, features


def feed_rank(*, user_id: int, at: datetime, model: LoadedModel, timings: dict | None = None) -> RankedFeed:
    """Rank every candidate of `user_id`'s feed at `at` (rounded down to its
    whole millisecond, as training counts) with `model`, under the viewer's
    own tweets of the last minutes, pinned on top unscored. The feed keeps
    the float32 feature row each scored item was scored with (`features`).
    Each stage's seconds go to the metrics, and into `timings` when given
    (for benchmarks)."""
    clock = Stopwatch({} if timings is None else timings)
    inputs = build_inputs(user_id=user_id, at=as_of(at), clock=clock)
    ranking = model_ranking(inputs=inputs, model=model, clock=clock)
    picks = [(tweet_id, ranking.scores[tweet_id], "") for tweet_id in ranking.tweet_ids]
    items, features = ranked_items(inputs=inputs, picks=picks)
    clock.lap("heuristics")
    telemetry.feed_build_observe(stages=clock.laps, candidates=len(inputs.candidates))
    return RankedFeed(
        user_id,
        model.name,
        inputs.at,
        [*inputs.pinned, *items],
        feature_spec=FEATURE_SPEC_FINGERPRINT,
        features=features,
    )


class RankerUnavailable(Exception):
    """A ranker a build needs cannot serve now."""

    def __init__(self, ranker: str, reason: str):
        super().__init__(reason)
        self.ranker, self.reason = ranker, reason


def _model_of(ranker: str) -> LoadedModel:
    model = model_for(ranker)
    if model is None:
        reason = "no ranking model can be loaded" if ranker == ACTIVE else f"model version {ranker} cannot serve"
        raise RankerUnavailable(ranker, reason)
    return model


def _ranking_by(*, inputs: BuildInputs, ranker: str, model: LoadedModel | None, clock: Stopwatch) -> Ranking:
    if model is None:
        return latest_ranking(inputs=inputs, clock=clock)
    try:
        return model_ranking(inputs=inputs, model=model, clock=clock)
    except IncompatibleModelError as exc:
        raise RankerUnavailable(ranker, f"model {model.name} cannot score today's features") from exc


def _build_seed(*, user_id: int, at: datetime) -> list[int]:
    """The interleaving coin's seed: one draw sequence per user and build."""
    return [user_id, int(at.timestamp() * 1000)]


def experiment_feed_rank(*, user_id: int, at: datetime | None, assignment: Assignment) -> RankedFeed:
    """`user_id`'s list for their variant: ranked by the variant's model, or,
    interleaved, drafted from its two teams' rankings (each item credited to
    the team that picked it). Raises RankerUnavailable, before any work,
    when a model it needs cannot serve: never ranked by another instead."""
    clock = Stopwatch({})
    rankers = [team.ranker for team in assignment.teams]
    models = {ranker: None if ranker == LATEST else _model_of(ranker) for ranker in rankers}
    # As of now once the models are at hand (None: now): loading one may take a while.
    inputs = build_inputs(user_id=user_id, at=as_of(at or timezone.now()), clock=clock)
    rankings = [_ranking_by(inputs=inputs, ranker=r, model=models[r], clock=clock) for r in rankers]
    if not assignment.interleaved:
        picks = [(tweet_id, rankings[0].scores[tweet_id], "") for tweet_id in rankings[0].tweet_ids]
    else:
        rng = np.random.default_rng(_build_seed(user_id=user_id, at=inputs.at))
        merged = team_draft(rankings[0].tweet_ids, rankings[1].tweet_ids, rng=rng)[: settings.RANKED_FEED_MAX_ITEMS]
        picks = [
            (tweet_id, rankings[team].scores.get(tweet_id), assignment.teams[team].name)
            if team is not None
            # Past the draft: shown, credited to neither team.
            else (tweet_id, next((r.scores[tweet_id] for r in rankings if tweet_id in r.scores), None), "")
            for tweet_id, team in merged
        ]
    items, features = ranked_items(inputs=inputs, picks=picks)
    clock.lap("heuristics")
    telemetry.feed_build_observe(stages=clock.laps, candidates=len(inputs.candidates))
    # ServedItem.model_version holds 64 characters; version names are short ("v12").
    model_version = "+".join(ranking.ranker for ranking in rankings)[:64]
    return RankedFeed(
        user_id,
        model_version,
        inputs.at,
        [*inputs.pinned, *items],
        feature_spec=FEATURE_SPEC_FINGERPRINT,
        arm=assignment.key,
        features=features,
    )


def _default_feed_build(*, user_id: int, at: datetime | None) -> RankedFeed | None:
    try:
        model = active_model()
        if model is None:
            logger.warning("No ranking model can be used: user %s keeps the chronological feed", user_id)
            ranking_unavailable_mark(reason="no ranking model can be loaded")
            return None
        return feed_rank(user_id=user_id, at=at or timezone.now(), model=model)
    except IncompatibleModelError:
        # Trained on other features than the ones served now: the next
        # training replaces it; until then, the chronological feed.
        logger.exception("The active ranking model cannot score today's features")
        ranking_unavailable_mark(reason="the active ranking model cannot score today's features")
        return None


def feed_build(*, user_id: int, at: datetime | None = None) -> RankedFeed | None:
    """Build and store `user_id`'s ranked list, for the variant of the
    running experiment they are in (RankedFeed.arm says which), or for the
    default feed. None, with nothing stored, when there is nothing to build
    or nothing to build it with:
    - a variant whose ranker is "latest": the web side serves it the
      chronological feed itself;
    - no model to rank the default feed with (none active, or none that
      loads): reads say ranking is "off" for a while rather than "pending";
    - a model a variant names cannot serve (missing, retired, unloadable):
      logged, counted, and that ranker marked unavailable, so that the
      variant's users read the chronological feed meanwhile (still tagged
      with their variant), never a list ranked by another model."""
    assignment = assignment_for(user_id=user_id)
    if assignment is None:
        feed = _default_feed_build(user_id=user_id, at=at)
    elif not assignment.interleaved and assignment.ranker == LATEST:
        return None
    else:
        try:
            feed = experiment_feed_rank(user_id=user_id, at=at, assignment=assignment)
        except RankerUnavailable as unavailable:
            logger.warning(
                "Experiment %s, variant %s: ranker %s cannot serve (%s): its users read the chronological feed",
                assignment.experiment,
                assignment.variant,
                unavailable.ranker,
                unavailable.reason,
            )
            telemetry.experiment_fallback_observe(experiment=assignment.experiment, variant=assignment.variant)
            ranking_unavailable_mark(reason=unavailable.reason, ranker=unavailable.ranker)
            feed = None
    if feed is not None:
        ranked_feed_store(feed=feed)
    return feed
