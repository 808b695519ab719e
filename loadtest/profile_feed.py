"""Profile GET /api/feed/ in process: N first pages of "For you", each a
different person's (tokens from world_tokens), through Django's middleware
and DRF as served, under cProfile. Run against bin/bench-serving's world
(its database and Redis, DEBUG off) after a run has built the feeds:

    DATABASE_URL=... REDIS_URL=... CELERY_BROKER_URL=... SECRET_KEY=... \\
      python loadtest/profile_feed.py TOKENS_FILE [N] [SORT]

Prints the mean time per request (with `none`, also the CPU time this
process spent on each: the web tier's cost, steadier on a busy machine) and the top functions by SORT (cumulative;
`none`: no profiler, the time alone). PROFILE_OUT=FILE keeps the profile."""

import cProfile
import json
import os
import pstats
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")


def main(tokens_file: str, n: int = 300, sort: str = "cumulative") -> int:
    import django

    django.setup()
    from django.test import Client

    with open(tokens_file) as file:
        tokens = [person["token"] for person in json.load(file)]
    client = Client()

    def read(i: int) -> None:
        response = client.get("/api/feed/?mode=ranked&limit=20", HTTP_AUTHORIZATION=f"Token {tokens[i % len(tokens)]}")
        assert response.status_code == 200, response.content[:300]  # noqa: S101

    for i in range(20):  # connections, caches and imports warm
        read(i)
    if sort == "none":  # timing only, no profiler
        # CPU time too: this process's alone (not PostgreSQL's or Redis's),
        # and far steadier than the wall clock on a busy machine.
        start, cpu_start = time.perf_counter(), time.process_time()
        for i in range(n):
            read(i)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        print(f"{n} feed reads: {1000 * wall / n:.1f} ms each, {1000 * cpu / n:.1f} ms of this process's CPU")
        return 0
    start = time.perf_counter()
    profile = cProfile.Profile()
    profile.enable()
    for i in range(n):
        read(i)
    profile.disable()
    elapsed = time.perf_counter() - start
    print(f"{n} feed reads: {1000 * elapsed / n:.1f} ms each under cProfile")
    if os.environ.get("PROFILE_OUT"):
        profile.dump_stats(os.environ["PROFILE_OUT"])
    pstats.Stats(profile).sort_stats(sort).print_stats(45)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], *map(int, sys.argv[2:3]), *sys.argv[3:4]))
