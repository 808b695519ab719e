"""The synthetic world: who its people are, what they like, and the hidden
ground-truth model of how they engage.

No public engagement log can be downloaded here, so rankers are compared in
a world whose truth is known. The truth lives in `WorldUser` / `WorldTweet`
and in this module; the ranker only ever sees the engagement log the
simulated people leave, through the same services real people use.

Ground-truth rates, by design (measured on the default world: see the README),
per impression: likes a few per hundred, retweets and replies under one per
hundred, hides a few per thousand, reports rarest and drawn mostly by spam.
"""

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.conf import settings

TOPICS = {
    "football": "goal match league striker keeper derby penalty transfer coach stadium fans season",
    "cooking": "recipe garlic oven pasta sourdough butter spice simmer roast kitchen flavour dough",
    "python": "python django async typing pytest package release bug refactor library pandas lint",
    "astronomy": "telescope galaxy nebula eclipse orbit comet jupiter saturn stars cosmos meteor moon",
    "music": "album guitar concert vinyl chorus synth drummer melody playlist tour jazz lyrics",
    "climate": "emissions solar wind carbon heatwave glacier renewable grid policy warming flood drought",
    "films": "director trailer cinema sequel screenplay actor festival premiere oscar scene noir reel",
    "running": "marathon pace tempo trail miles shoes intervals race split recovery hills track",
    "gaming": "console speedrun boss level patch multiplayer controller quest indie loot arcade pixel",
    "gardening": "tomato seedlings compost pruning roses soil mulch greenhouse bulbs harvest weeds bees",
    "finance": "stocks bonds inflation rates budget savings index dividend market crypto pension yield",
    "travel": "flight passport hostel train itinerary beach mountains museum visa backpack ferry map",
}
TOPIC_NAMES = list(TOPICS)
TOPIC_WORDS = [words.split() for words in TOPICS.values()]
COMMON_WORDS = "today really love think just great new this that best week finally anyone thoughts".split()
SPAM_WORDS = "free win prize click link now crypto giveaway followers cheap deal limited dm".split()
FIRST_NAMES = (
    "ada alan grace linus guido barbara ken dennis margaret edsger donald frances radia tim katherine "
    "john sophie hedy claude annie vint niklaus jean barbara2 carol joan lynn mary shafi"
).split()
LAST_NAMES = "lovelace turing hopper knuth ritchie hamilton liskov allen perlman lee wing rossum".split()

N_TOPICS = len(TOPICS)
SPAMMER_SHARE = 0.03
DAY_START_H, DAY_END_H = 7, 23  # people open the app between 07:00 and 23:00


@dataclass(frozen=True)
class Person:
    """A world user's hidden traits."""

    index: int
    interests: np.ndarray
    quality: float
    is_spammer: bool
    visit_rate: float
    post_rate: float


def people_generate(*, seed: int, n_users: int) -> list[Person]:
    """Hidden traits of `n_users` people: concentrated topic interests, tweet
    quality, a few spammers who post a lot, and how often each one visits."""
    rng = np.random.default_rng([seed, 0])
    interests = rng.dirichlet(np.full(N_TOPICS, 0.25), size=n_users)
    quality = rng.beta(4, 3, size=n_users)
    spammer = rng.random(n_users) < SPAMMER_SHARE
    visit_rate = rng.beta(2, 3, size=n_users)
    post_rate = np.minimum(rng.lognormal(math.log(0.8), 0.8, size=n_users), 8.0)
    quality[spammer] = rng.beta(1, 8, size=int(spammer.sum()))
    post_rate[spammer] = 4.0
    return [
        Person(i, interests[i], float(quality[i]), bool(spammer[i]), float(visit_rate[i]), float(post_rate[i]))
        for i in range(n_users)
    ]


def follow_graph_generate(*, seed: int, people: list[Person]) -> list[tuple[int, int]]:
    """(follower, followee) index pairs: a heavy-tailed follower distribution
    (a few people have very many followers) with topical homophily."""
    rng = np.random.default_rng([seed, 1])
    n = len(people)
    interests = np.stack([person.interests for person in people])
    unit = interests / np.linalg.norm(interests, axis=1, keepdims=True)
    fame = rng.pareto(1.3, size=n) + 1.0
    fame[[person.is_spammer for person in people]] *= 0.05
    edges = []
    for person in people:
        wanted = int(np.clip(rng.lognormal(math.log(30), 0.6), 3, min(150, n - 1)))
        similarity = unit @ unit[person.index]
        weight = fame * (0.05 + similarity) ** 2
        weight[person.index] = 0.0
        followees = rng.choice(n, size=wanted, replace=False, p=weight / weight.sum())
        edges.extend((person.index, int(followee)) for followee in sorted(followees))
    return edges


def tweet_text(rng: np.random.Generator, *, topic: int, spam: bool) -> str:
    """Text drawn from the topic's vocabulary, so text carries signal."""
    words = list(rng.choice(TOPIC_WORDS[topic], size=int(rng.integers(3, 8))))
    words += list(rng.choice(COMMON_WORDS, size=int(rng.integers(1, 5))))
    if spam:
        words += list(rng.choice(SPAM_WORDS, size=int(rng.integers(3, 6))))
    rng.shuffle(words)
    text = " ".join(words)
    if rng.random() < 0.3:
        text += f" #{TOPIC_NAMES[topic]}"
    return text[: settings.TWEET_MAX_CHARS]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


HEADS = ("like", "reply", "retweet", "hide", "report", "dwell")
DWELL_MEDIAN_MS = 2500.0
DWELL_SIGMA = 0.9


@dataclass(frozen=True)
class Item:
    """What the truth needs to know about one shown tweet (its original)."""

    topic: int  # -1: a tweet from outside the world, of no known topic
    author: int  # index of the author's Person; -1: outside the world
    age_h: float


class Truth:
    """The hidden ground-truth model: per viewer and shown tweet, the true
    probability of each engagement, and a simulated dwell time."""

    def __init__(self, *, seed: int, people: list[Person]):
        self.seed = seed
        self.people = people
        interests = np.stack([person.interests for person in people])
        self.unit = interests / np.linalg.norm(interests, axis=1, keepdims=True)
        self.quality = np.array([person.quality for person in people])
        self.spam = np.array([person.is_spammer for person in people], dtype=float)

    def tie(self, viewer: int, author: int) -> float:
        """A stable private bond between two people, uniform in [0, 1)."""
        digest = hashlib.blake2b(f"{self.seed}:{viewer}:{author}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64

    def latent(self, viewer: int, items: list[Item]) -> dict[str, np.ndarray]:
        """The hidden quantities behind each engagement, per item."""
        topic = np.array([item.topic for item in items])
        author = np.array([item.author for item in items])
        known_author = author >= 0
        safe_author = np.where(known_author, author, 0)
        interests = self.people[viewer].interests
        match = np.where(topic >= 0, interests[np.maximum(topic, 0)] * N_TOPICS, 1.0)
        similarity = np.where(known_author, self.unit[safe_author] @ self.unit[viewer], 0.5)
        ties = np.array([self.tie(viewer, a) if a >= 0 else 0.5 for a in author])
        return {
            "match": match,
            "closeness": 0.6 * similarity + 0.4 * ties,
            "quality": np.where(known_author, self.quality[safe_author], 0.5),
            "spam": np.where(known_author, self.spam[safe_author], 0.0),
            "age_h": np.array([item.age_h for item in items]),
        }

    def probabilities(self, viewer: int, items: list[Item]) -> dict[str, np.ndarray]:
        """True probability of each head for `viewer` looking at each item.
        `dwell` is the chance of a long dwell (>= DWELL_LONG_MS)."""
        h = self.latent(viewer, items)
        # What the tweet is to this viewer; staleness dampens the wish to act
        # on it, not the urge to hide or report it.
        relevance = 1.2 * np.log(h["match"] + 0.05) + 2.5 * (h["quality"] - 0.5) + 2.0 * h["closeness"]
        appeal = relevance - 0.03 * h["age_h"]
        spam = h["spam"]
        dwell_mu = math.log(DWELL_MEDIAN_MS) + 0.35 * appeal
        long_z = (math.log(settings.DWELL_LONG_MS) - dwell_mu) / DWELL_SIGMA
        return {
            "like": _sigmoid(-5.0 + appeal - 3.0 * spam),
            "reply": _sigmoid(-8.0 + 0.9 * appeal + 1.5 * h["closeness"] - 3.0 * spam),
            "retweet": _sigmoid(-7.1 + appeal + 1.0 * (h["quality"] - 0.5) - 3.0 * spam),
            "hide": _sigmoid(-7.4 - 0.8 * relevance + 3.5 * spam),
            "report": _sigmoid(-9.5 - 0.6 * relevance + 5.5 * spam),
            "dwell": 0.5 * np.array([math.erfc(z / math.sqrt(2)) for z in np.atleast_1d(long_z)]),
            "dwell_mu": dwell_mu,
        }

    def expected_utility(self, viewer: int, items: list[Item]) -> np.ndarray:
        """True expected weighted engagement of each item: what the oracle sorts by."""
        probabilities = self.probabilities(viewer, items)
        weights = settings.ENGAGEMENT_WEIGHTS
        return sum(weights[head] * probabilities[head] for head in HEADS)


def attention(position: int) -> float:
    """Position bias: the further down, the less of the item a person takes in."""
    return 0.5 + 0.5 * 0.97**position


def hours_between(earlier: datetime, later: datetime) -> float:
    return max((later - earlier).total_seconds() / 3600.0, 0.0)
