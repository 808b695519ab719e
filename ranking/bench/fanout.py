"""The fan-out benchmark: an author with many followers, about half of them
recently active, and what a new tweet of theirs costs: finding the active
followers (one indexed query per chunk, on User.last_feed_at), the chunks
(one mark_feeds_stale task each), and marking their lists stale in Redis.
Beside it, the way it was done before: active followers found by scanning
the feed-request log."""

import hashlib
import random
import time
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from feed.models import FeedRequest
from ranking.fanout import active_follower_chunks
from ranking.store import _stale_key, feeds_mark_stale
from users.models import Follow, User

PREFIX = "bench_fanout"
BATCH = 5000


def _world(*, followers: int, active_share: float, log_requests: int, seed: int) -> User:
    """The author and their followers, made once per database and reused:
    each follower read their feed last either within the active window
    (`active_share` of them, at random) or before it, and left
    `log_requests` feed requests in the log up to then, an hour apart (a
    reader loads about ten a day)."""
    # Usernames are letters, digits and underscore, at most 30: the world's
    # parameters go in as a short digest.
    world = hashlib.sha256(f"{followers}-{active_share}-{log_requests}-{seed}".encode()).hexdigest()[:8]
    name = f"{PREFIX}_{world}_author"
    author = User.objects.filter(username=name).first()
    if author is not None and Follow.objects.filter(followee=author).count() == followers:
        return author
    rng = random.Random(seed)  # noqa: S311  # nosec B311 - a benchmark's world, not a secret
    unusable = make_password(None)
    now = timezone.now()
    window = settings.FANOUT_ACTIVE_WINDOW_S
    with transaction.atomic():
        User.objects.filter(username__startswith=f"{PREFIX}_{world}_").delete()
        User.objects.filter(username=name).delete()
        author = User.objects.create(username=name, password=unusable)
        for start in range(0, followers, BATCH):
            users = []
            for n in range(start, min(start + BATCH, followers)):
                ago = rng.uniform(0, window) if rng.random() < active_share else rng.uniform(window, 30 * 86400)
                users.append(
                    User(
                        username=f"{PREFIX}_{world}_{n}",
                        password=unusable,
                        last_feed_at=now - timedelta(seconds=ago),
                    )
                )
            users = User.objects.bulk_create(users)
            Follow.objects.bulk_create([Follow(follower=u, followee=author) for u in users])
            FeedRequest.objects.bulk_create(
                [
                    FeedRequest(id=uuid.uuid4(), user=u, mode="latest", created_at=u.last_feed_at - timedelta(hours=k))
                    for u in users
                    for k in range(log_requests)
                ],
                batch_size=BATCH,
            )
    return author


def _analyze() -> None:
    """Fresh statistics, as autovacuum keeps them: without, PostgreSQL plans
    for a handful of followers and walks all of them for every chunk."""
    with connection.cursor() as cursor:
        for model in (User, Follow, FeedRequest):
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")  # nosec B608


def _from_log(*, author_id: int, at: datetime) -> list[int]:
    """The old way: the followers with a feed request in the active window,
    found by scanning the feed-request log (one query, all at once)."""
    since = at - timedelta(seconds=settings.FANOUT_ACTIVE_WINDOW_S)
    followers = Follow.objects.filter(followee_id=author_id).values("follower_id")
    return list(
        FeedRequest.objects.filter(user_id__in=followers, created_at__gte=since)
        .values_list("user_id", flat=True)
        .distinct()
        .order_by("user_id")
    )


def fanout_benchmark(
    *, followers: int = 100_000, active_share: float = 0.5, log_requests: int = 10, seed: int = 1
) -> dict:
    """Times, in ms, of one fan-out for an author with `followers`
    followers: finding the active ones, chunk by chunk; marking their lists
    stale (what the chunks' tasks do, run here one after the other); and the
    old log scan. The stale marks written are removed afterwards."""
    author = _world(followers=followers, active_share=active_share, log_requests=log_requests, seed=seed)
    _analyze()
    at = timezone.now()

    started = time.perf_counter()
    chunks = list(active_follower_chunks(author_id=author.pk, at=at))
    find_ms = (time.perf_counter() - started) * 1000

    started = time.perf_counter()
    for chunk in chunks:
        feeds_mark_stale(user_ids=chunk)
    mark_ms = (time.perf_counter() - started) * 1000
    active = [user_id for chunk in chunks for user_id in chunk]
    for start in range(0, len(active), BATCH):
        cache.delete_many([_stale_key(user_id) for user_id in active[start : start + BATCH]])

    started = time.perf_counter()
    from_log = _from_log(author_id=author.pk, at=at)
    log_ms = (time.perf_counter() - started) * 1000

    return {
        "followers": followers,
        "log_requests_per_follower": log_requests,
        "active": len(active),
        "chunk": settings.FANOUT_CHUNK,
        "chunks": len(chunks),
        "tasks": len(chunks),
        "find_ms": round(find_ms, 1),
        "mark_stale_ms": round(mark_ms, 1),
        "total_ms": round(find_ms + mark_ms, 1),
        "log_scan_ms": round(log_ms, 1),
        "log_scan_same_followers": from_log == active,
    }
