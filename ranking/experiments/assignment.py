"""Who is in which variant: a pure function of the user id and the running
experiment's salt. Nothing is written per request, every process (web and
feeds workers) agrees, and a user keeps their variant for the experiment's
life. The running experiment itself is read through the cache, so a feed
read costs no query for it."""

import hashlib
from dataclasses import dataclass

from django.core.cache import cache

from ranking.models import Experiment

# The ranker that is no model: the chronological feed.
LATEST = "latest"
# Users fall into one of this many buckets; a variant of weight w (percent)
# takes w / 100 of them.
BUCKETS = 10_000
# The variant every user of an interleaving experiment is in: one list,
# picked alternately by two rankers (its teams).
INTERLEAVED = "interleaved"
# Seconds a process may serve from a cached copy of the running experiment
# when its invalidation was lost (a start or stop deletes the copy at once).
RUNNING_CACHE_S = 30
RUNNING_KEY = "experiment-running"


def bucket(*, user_id: int, salt: str) -> int:
    """The user's bucket in 0..BUCKETS-1: the first 8 bytes of a SHA-256 of
    salt and id, so buckets are uniform and independent across salts."""
    digest = hashlib.sha256(f"{salt}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


@dataclass(frozen=True)
class Arm:
    name: str
    ranker: str  # "latest", "active", a model version's name (or "oracle" in the simulator)
    weight: int  # percent of users


@dataclass(frozen=True)
class Assignment:
    """A user's place in the running experiment: the variant they are in and
    the ranker(s) that order their feed: one for an A/B arm, two (the teams,
    challenger second) when interleaved."""

    experiment_id: int
    experiment: str
    variant: str
    teams: tuple[Arm, ...]

    @property
    def interleaved(self) -> bool:
        return len(self.teams) == 2

    @property
    def ranker(self) -> str:
        """The A/B arm's ranker."""
        return self.teams[0].ranker

    @property
    def ranks(self) -> bool:
        """Whether a feeds worker builds this user's list (not for an arm
        served the chronological feed)."""
        return self.interleaved or self.ranker != LATEST

    @property
    def model_rankers(self) -> tuple[str, ...]:
        """The models their list is built with."""
        return tuple(team.ranker for team in self.teams if team.ranker != LATEST)

    @property
    def key(self) -> str:
        """What a stored ranked list must have been built for to serve this user."""
        return f"{self.experiment_id}:{self.variant}"


@dataclass(frozen=True)
class RunningExperiment:
    id: int
    name: str
    design: str
    salt: str
    arms: tuple[Arm, ...]

    def assignment_for(self, user_id: int) -> Assignment | None:
        if self.design == Experiment.Design.INTERLEAVE:
            return Assignment(self.id, self.name, INTERLEAVED, self.arms)
        point, edge = bucket(user_id=user_id, salt=self.salt), 0
        for arm in self.arms:
            edge += arm.weight * BUCKETS // 100
            if point < edge:
                return Assignment(self.id, self.name, arm.name, (arm,))
        return None  # beyond the arms' weights: the default feed

    def as_payload(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "design": self.design,
            "salt": self.salt,
            "arms": [[a.name, a.ranker, a.weight] for a in self.arms],
        }

    @classmethod
    def from_payload(cls, payload: dict) -> "RunningExperiment":
        arms = tuple(Arm(name, ranker, weight) for name, ranker, weight in payload["arms"])
        return cls(payload["id"], payload["name"], payload["design"], payload["salt"], arms)

    @classmethod
    def from_experiment(cls, experiment: Experiment) -> "RunningExperiment":
        arms = tuple(Arm(v.name, v.ranker, v.weight) for v in experiment.variants.all())
        return cls(experiment.pk, experiment.name, experiment.design, experiment.salt, arms)


def running_experiment() -> RunningExperiment | None:
    """The experiment running on the home feed, or None: from the cache,
    else from the database (and cached). With Redis down, from the database."""
    payload = cache.get(RUNNING_KEY)
    if payload is not None:
        return RunningExperiment.from_payload(payload) if payload else None
    experiment = Experiment.objects.filter(status=Experiment.Status.RUNNING).prefetch_related("variants").first()
    running = RunningExperiment.from_experiment(experiment) if experiment else None
    cache.set(RUNNING_KEY, running.as_payload() if running else {}, timeout=RUNNING_CACHE_S)
    return running


def running_experiment_forget() -> None:
    """An experiment started or stopped: every process reads it anew."""
    cache.delete(RUNNING_KEY)


def assignment_for(*, user_id: int) -> Assignment | None:
    """The user's variant in the running experiment; None when none runs or
    the user is outside its variants' weights (the default feed)."""
    running = running_experiment()
    return running.assignment_for(user_id) if running else None
