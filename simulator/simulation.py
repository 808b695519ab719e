"""The simulator: builds a synthetic world and lets its people browse.

Each simulated day, people post on their own schedule and a share of them
open their home feed, through the same feed service the API uses, in the mode
asked (`latest`, `ranked`, or `oracle`: sorted by the hidden truth, the
ceiling every ranker is compared with). They scroll with position bias and
stop after a random number of items; for each item they look at an impression
and a dwell are logged, and they like, reply, retweet, hide or report with
the probabilities of the hidden truth (simulator/world.py), through the same
service functions real people use. They deliver events as clients do:
actions at once, impressions and dwells in batches sent later, each event
with the time it happened. Time is simulated: every row carries the
simulated timestamp.

Deterministic: who posts what and when, and who visits when and how far they
scroll, come from random streams keyed by (seed, day) alone, so every mode
faces the same people on the same days; the same seed, arguments and starting
database give the same event counts. How long a person dwells on a tweet and
whether they act on it come from dice keyed by (seed, day, person, tweet):
lives of the same days under different rankers throw the same dice when the
same person meets the same tweet (common random numbers), so what differs
between them is the rankers' doing, not a second draw of everyone's behaviour.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import numpy as np
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.utils import timezone

from feed import services as feed_services
from feed.models import (
    AuthorDayCounts,
    Engagement,
    FeedRequest,
    Hide,
    Like,
    Report,
    Tweet,
    TweetDayCounts,
    ViewerAuthorDayCounts,
)
from ranking.experiments.assignment import assignment_for
from ranking.serving.candidates import candidates_for
from ranking.serving.pipeline import feed_build
from simulator.models import World, WorldTweet, WorldUser
from simulator.world import (
    DAY_END_H,
    DAY_START_H,
    DWELL_SIGMA,
    FIRST_NAMES,
    LAST_NAMES,
    N_TOPICS,
    Item,
    Person,
    Truth,
    attention,
    follow_graph_generate,
    hours_between,
    people_generate,
    tweet_text,
)
from users.models import Follow, FollowEvent, User
from users.services import follower_counts_recount

MODES = (FeedRequest.Mode.LATEST, FeedRequest.Mode.RANKED, FeedRequest.Mode.ORACLE)
# The ranker an experiment's variant may name in the simulator only: the hidden truth.
ORACLE = FeedRequest.Mode.ORACLE.value
DEPTH_MIN, DEPTH_MEAN, DEPTH_MAX = 3, 20, 100  # items a person scrolls through
SECONDS_PER_ITEM = 4  # a person reaches item i of a visit SECONDS_PER_ITEM * i after opening the feed
ACTION_DELAY_S = 1  # and acts on it this long after it came into view
CLIENT_BATCH_EVENTS = 20  # as the browser's engagement logger batches
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DEMO_USERNAME = "demo"  # the world's first person: the demo login (simulator.demo)
logger = logging.getLogger(__name__)


def username_for(index: int) -> str:
    if index == 0:
        return DEMO_USERNAME
    return f"{FIRST_NAMES[index % len(FIRST_NAMES)]}_{LAST_NAMES[index % len(LAST_NAMES)]}{index}"


def display_name_for(index: int) -> str:
    first = FIRST_NAMES[index % len(FIRST_NAMES)].rstrip("0123456789")
    return f"{first.title()} {LAST_NAMES[index % len(LAST_NAMES)].title()}"


def midnight(day: datetime) -> datetime:
    return datetime.combine(day.date(), time.min, tzinfo=day.tzinfo)


@transaction.atomic
def world_create(*, seed: int, n_users: int, start: datetime) -> World:
    """A new world of `n_users` people and their follow graph; browsing starts
    on `start`'s day, after a warm-up day of posts."""
    people = people_generate(seed=seed, n_users=n_users)
    unusable = make_password(None)
    users = User.objects.bulk_create(
        [
            User(username=username_for(p.index), display_name=display_name_for(p.index), password=unusable)
            for p in people
        ],
        batch_size=1000,
    )
    WorldUser.objects.bulk_create(
        [
            WorldUser(
                user=user,
                index=p.index,
                interests=[float(w) for w in p.interests],
                quality=p.quality,
                is_spammer=p.is_spammer,
                visit_rate=p.visit_rate,
                post_rate=p.post_rate,
            )
            for user, p in zip(users, people, strict=True)
        ],
        batch_size=1000,
    )
    warm_up = midnight(start) - timedelta(days=1)
    edges = follow_graph_generate(seed=seed, people=people)
    Follow.objects.bulk_create(
        [Follow(follower=users[a], followee=users[b], created_at=warm_up) for a, b in edges], batch_size=5000
    )
    # The follow log beside the graph, as users.services.follow_create writes it one edge at a time.
    FollowEvent.objects.bulk_create(
        [
            FollowEvent(follower=users[a], followee=users[b], kind=FollowEvent.Kind.FOLLOW, created_at=warm_up)
            for a, b in edges
        ],
        batch_size=5000,
    )
    follower_counts_recount(user_ids=[user.pk for user in users])
    world = World.objects.create(seed=seed, start=midnight(start), days=0)
    Simulation(world).post_day(day=-1)
    return world


@dataclass(frozen=True)
class Shown:
    tweet: Tweet  # the original
    feed_request: FeedRequest
    position: int


class Simulation:
    """A world loaded in memory: its people, their hidden truth, and the topics
    of its tweets."""

    def __init__(self, world: World):
        self.world = world
        rows = list(WorldUser.objects.select_related("user").order_by("index"))
        self.people = [
            Person(
                r.index, np.array(r.interests) / sum(r.interests), r.quality, r.is_spammer, r.visit_rate, r.post_rate
            )
            for r in rows
        ]
        self.users = [r.user for r in rows]
        self.index_of = {r.user_id: r.index for r in rows}
        self.topics = dict(WorldTweet.objects.values_list("tweet_id", "topic"))
        self.truth = Truth(seed=world.seed, people=self.people)
        self.new_topics: dict[int, int] = {}

    def day_start(self, day: int) -> datetime:
        return self.world.start + timedelta(days=day)

    def rng(self, stream: int, day: int) -> np.random.Generator:
        return np.random.default_rng([self.world.seed, stream, day + 1])

    def dice(self, *, day: int, viewer: int, tweet: Tweet) -> np.random.Generator:
        """The draws of one person meeting one tweet on one day, keyed by who and
        what (a tweet by its author's index and its time, which are the same in
        every life, unlike row ids) rather than by the day's order of events."""
        author = self.index_of.get(tweet.author_id, len(self.people))  # past the world's people: someone else
        posted_us = (tweet.created_at - EPOCH) // timedelta(microseconds=1)
        return np.random.default_rng([self.world.seed, 5, day + 1, viewer, author, posted_us])

    # --- posting -------------------------------------------------------------

    def posts_of_day(self, day: int) -> list[tuple[datetime, int, int, str]]:
        """(time, author index, topic, text) of every tweet people post that day."""
        rng = self.rng(2, day)
        start = self.day_start(day)
        posts = []
        for person in self.people:
            for _ in range(int(rng.poisson(person.post_rate))):
                at = start + timedelta(seconds=float(rng.uniform(0, 86_400)))
                if person.is_spammer:
                    topic = int(rng.integers(N_TOPICS))
                else:
                    topic = int(rng.choice(N_TOPICS, p=person.interests))
                posts.append((at, person.index, topic, tweet_text(rng, topic=topic, spam=person.is_spammer)))
        return posts

    def post(self, *, author: int, topic: int, text: str, at: datetime, reply_to: Tweet | None = None, served=None):
        tweet = feed_services.tweet_create(
            author=self.users[author],
            text=text,
            reply_to=reply_to,
            served=served or feed_services.NOT_SERVED,
            at=at,
            fanout=False,  # simulated time: feeds are built at each visit
        )
        self.topics[tweet.pk] = self.new_topics[tweet.pk] = topic

    def post_day(self, *, day: int) -> None:
        for at, author, topic, text in self.posts_of_day(day):
            self.post(author=author, topic=topic, text=text, at=at)
        self.flush_topics()

    def flush_topics(self) -> None:
        WorldTweet.objects.bulk_create(
            [WorldTweet(tweet_id=tweet_id, topic=topic) for tweet_id, topic in self.new_topics.items()],
            batch_size=5000,
        )
        self.new_topics.clear()

    # --- browsing ------------------------------------------------------------

    def sessions_of_day(self, day: int) -> list[tuple[datetime, int, int]]:
        """(time, person index, scroll depth) of every feed visit that day."""
        rng = self.rng(3, day)
        start = self.day_start(day)
        visits = rng.random(len(self.people)) < np.array([p.visit_rate for p in self.people])
        times = rng.uniform(DAY_START_H * 3600, DAY_END_H * 3600, size=len(self.people))
        depths = np.minimum(DEPTH_MIN + rng.geometric(1 / (DEPTH_MEAN - DEPTH_MIN), size=len(self.people)), DEPTH_MAX)
        return [
            (start + timedelta(seconds=float(times[i])), i, int(depths[i]))
            for i in range(len(self.people))
            if visits[i]
        ]

    def is_spammer(self, user_id: int) -> bool:
        return user_id in self.index_of and self.people[self.index_of[user_id]].is_spammer

    def item(self, *, tweet_id: int, author_id: int, created_at: datetime, at: datetime) -> Item:
        """What the truth needs of a shown tweet (a Tweet or a Candidate)."""
        return Item(
            topic=self.topics.get(tweet_id, -1),
            author=self.index_of.get(author_id, -1),
            age_h=hours_between(created_at, at),
        )

    def serve(self, *, viewer: int, mode: str, depth: int, at: datetime) -> list[Shown]:
        user = self.users[viewer]
        if mode == FeedRequest.Mode.ORACLE:
            return self.serve_oracle(viewer=viewer, depth=depth, at=at)
        if mode == FeedRequest.Mode.RANKED:
            assignment = assignment_for(user_id=user.pk)
            if assignment is not None and assignment.ranker == ORACLE and not assignment.interleaved:
                # An experiment's oracle arm: only the simulator can build it.
                return self.serve_oracle(viewer=viewer, depth=depth, at=at, assignment=assignment)
            # What a feeds worker would have stored by now, built in-process at simulated time.
            feed_build(user_id=user.pk, at=at)
        # One page as deep as this person will scroll, as a client asks for.
        page = feed_services.feed_read(viewer=user, mode=mode, limit=depth, at=at)
        return [Shown(item.tweet.original, page.feed_request, item.position) for item in page.items]

    def serve_oracle(self, *, viewer: int, depth: int, at: datetime, assignment=None) -> list[Shown]:
        """The ceiling: the learned ranker's own candidates, sorted by true
        expected weighted engagement instead of predicted."""
        user = self.users[viewer]
        candidates = candidates_for(viewer_id=user.pk, at=at).candidates
        if not candidates:
            return []
        items = [
            self.item(tweet_id=c.tweet_id, author_id=c.author_id, created_at=c.created_at, at=at) for c in candidates
        ]
        order = np.argsort(-self.truth.expected_utility(viewer, items), kind="stable")[:depth]
        tweets = Tweet.objects.in_bulk([candidates[i].tweet_id for i in order])
        feed_request = feed_services.feed_request_create(
            user=user, mode=FeedRequest.Mode.ORACLE, model_version=ORACLE, assignment=assignment, at=at
        )
        shown = [Shown(tweets[candidates[i].tweet_id], feed_request, position) for position, i in enumerate(order)]
        # Recorded as the feed read records what it serves: events name them.
        feed_services.served_record(
            feed_request=feed_request, items=[feed_services.FeedItem(s.tweet, s.position) for s in shown]
        )
        return shown

    def browse(self, *, viewer: int, mode: str, depth: int, at: datetime, day: int) -> None:
        """One visit: look at what is served, log it, act on it."""
        shown = self.serve(viewer=viewer, mode=mode, depth=depth, at=at)
        if not shown:
            return
        user = self.users[viewer]
        items = [
            self.item(tweet_id=s.tweet.pk, author_id=s.tweet.author_id, created_at=s.tweet.created_at, at=at)
            for s in shown
        ]
        truth = self.truth.probabilities(viewer, items)
        # As a client does: impressions and dwells queue up and go in batches
        # (when one fills, and when the visit ends), each with the time it
        # happened; actions go at once, so they arrive before the impressions
        # that led to them, and the server must attribute by event time.
        # A dwell is reported once it is over, so a batch leaves when its
        # last dwell has ended: the server holds a feed request's dwells to
        # the time since it was served.
        queue: list[feed_services.ClientEvent] = []
        dwells_end = at

        def send(sent_at: datetime) -> None:
            if queue:
                sent_at = max(sent_at, dwells_end)
                feed_services.engagements_log(user=user, events=queue[:], sent_at=sent_at, at=sent_at)
                queue.clear()

        seen, removed = set(), set()
        for i, item in enumerate(shown):
            tweet, served = item.tweet, feed_services.Served(item.feed_request, item.position)
            if tweet.pk in removed:  # its card is gone from the page
                continue
            seen_at = at + timedelta(seconds=SECONDS_PER_ITEM * i)
            dice = self.dice(day=day, viewer=viewer, tweet=tweet)
            dwell_ms = int(np.clip(dice.lognormal(truth["dwell_mu"][i], DWELL_SIGMA), 200, 600_000))
            dwells_end = max(dwells_end, seen_at + timedelta(milliseconds=dwell_ms))
            for kind, dwell in ((Engagement.Kind.IMPRESSION, None), (Engagement.Kind.DWELL, dwell_ms)):
                queue.append(
                    feed_services.ClientEvent(
                        tweet.pk,
                        kind,
                        dwell_ms=dwell,
                        feed_request=item.feed_request,
                        position=item.position,
                        at=seen_at,
                    )
                )
            if len(queue) >= CLIENT_BATCH_EVENTS:
                send(seen_at)
            draws = dice.random(5)
            if tweet.pk in seen or tweet.author_id == user.pk:  # seen already, or their own
                continue
            seen.add(tweet.pk)
            odds = {head: truth[head][i] * attention(item.position) for head in ("like", "reply", "retweet")}
            odds |= {head: truth[head][i] for head in ("hide", "report")}
            acted_at = seen_at + timedelta(seconds=ACTION_DELAY_S)
            if draws[0] < odds["report"]:
                reason = Report.Reason.SPAM if self.is_spammer(tweet.author_id) else Report.Reason.ABUSE
                feed_services.report_create(user=user, tweet=tweet, reason=reason, served=served, at=acted_at)
                removed.add(tweet.pk)
                continue
            if draws[1] < odds["hide"]:
                feed_services.hide_create(user=user, tweet=tweet, served=served, at=acted_at)
                removed.add(tweet.pk)
                continue
            if draws[2] < odds["like"]:
                feed_services.like_create(user=user, tweet=tweet, served=served, at=acted_at)
            if draws[3] < odds["retweet"]:
                feed_services.retweet_create(user=user, tweet=tweet, served=served, at=acted_at, fanout=False)
            if draws[4] < odds["reply"]:
                topic = max(self.topics.get(tweet.pk, 0), 0)
                text = tweet_text(dice, topic=topic, spam=self.people[viewer].is_spammer)
                self.post(author=viewer, topic=topic, text=text, at=acted_at, reply_to=tweet, served=served)
        send(at + timedelta(seconds=SECONDS_PER_ITEM * len(shown)))

    def run_day(self, *, mode: str) -> None:
        """Simulate the world's next day in `mode`: posts and visits in time order."""
        day = self.world.days
        sessions = [(at, 1, viewer, depth) for at, viewer, depth in self.sessions_of_day(day)]
        posts = [(at, 0, author, (topic, text)) for at, author, topic, text in self.posts_of_day(day)]
        refresh_planner_statistics()
        with transaction.atomic():
            for at, kind, who, what in sorted(sessions + posts, key=lambda event: event[:3]):
                if kind == 0:
                    self.post(author=who, topic=what[0], text=what[1], at=at)
                else:
                    self.browse(viewer=who, mode=mode, depth=what, at=at, day=day)
            self.flush_topics()
            self.world.days += 1
            self.world.save(update_fields=["days"])


def refresh_planner_statistics() -> None:
    """A simulated day writes faster than autovacuum re-analyses: without fresh
    statistics PostgreSQL plans the feed query for a tiny table and scans."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            tables = (
                User,
                Follow,
                Tweet,
                Like,
                Hide,
                Report,
                Engagement,
                TweetDayCounts,
                AuthorDayCounts,
                ViewerAuthorDayCounts,
            )
            cursor.execute(f"ANALYZE {', '.join(model._meta.db_table for model in tables)}")


@dataclass(frozen=True)
class SimulationRun:
    first_day: datetime
    last_day: datetime
    users: int


def simulate(*, users: int, days: int, seed: int, mode: str, start: datetime | None = None) -> SimulationRun:
    """Build the world if there is none, then simulate `days` more days in `mode`."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    world = World.objects.first()
    if world is None:
        world = world_create(seed=seed, n_users=users, start=start or timezone.now() - timedelta(days=days))
    simulation = Simulation(world)
    first_day = simulation.day_start(world.days)
    for _ in range(days):
        simulation.run_day(mode=mode)
    return SimulationRun(
        first_day=first_day, last_day=simulation.day_start(world.days - 1), users=len(simulation.users)
    )
