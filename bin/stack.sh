# The app as deployed, on 127.0.0.1, for bin/load and bin/bench-serving
# (sourced, not run): production settings on a database and Redis of the
# caller's, a seeded world, gunicorn and one Celery worker per queue a feed
# needs. The caller sets PYTHON, DB, REDIS, BROKER and BASE first.

# Production settings, but plain HTTP: no TLS proxy on the loopback.
stack_settings() {
  export DEBUG=0
  SECRET_KEY=$("$PYTHON" -c "import secrets; print(secrets.token_urlsafe(50))")
  export SECRET_KEY
  export ALLOWED_HOSTS=127.0.0.1 SECURE_SSL_REDIRECT=0
  export DATABASE_URL=postgres://postgres@127.0.0.1:5432/$DB
  export REDIS_URL=$REDIS CELERY_BROKER_URL=$BROKER
  export LOG_LEVEL=WARNING
  unset PROMETHEUS_MULTIPROC_DIR METRICS_TOKEN METRICS_WORKER_PORT
}

# stack_seed PEOPLE DAYS LOG: a fresh database holding a seeded world (its
# people, their history and a trained ranker).
stack_seed() {
  dropdb -h 127.0.0.1 -U postgres --if-exists "$DB"
  createdb -h 127.0.0.1 -U postgres "$DB"
  "$PYTHON" manage.py migrate --verbosity 0
  echo "seeding a world of $1 people and training a ranker on it"
  DEMO_PASSWORD=$("$PYTHON" -c "import secrets; print(secrets.token_urlsafe(18))") \
    "$PYTHON" manage.py seed_demo --users "$1" --days "$2" >"$3" 2>&1 || { cat "$3"; return 1; }
}

# stack_workers DIR NAME: one worker per queue the feed needs, as deployed:
# builds (feeds), fan-out and stale marks (default); their pids in
# worker_pids. At INFO, for the line that says a worker is ready.
stack_workers() {
  local queue
  for queue in feeds default; do
    LOG_LEVEL=INFO .venv/bin/celery -A config worker -Q "$queue" -n "$queue@$2" -c 1 \
      --without-gossip --without-mingle --loglevel INFO >"$1/worker-$queue.log" 2>&1 &
    worker_pids+=($!)
  done
}

# stack_wait DIR PID...: until the server answers /readyz and both workers
# say they are ready, up to 2 minutes (a busy CI machine starts a worker
# slowly); fails when one of the PIDs dies meanwhile.
stack_wait() {
  local dir=$1 pid
  shift
  ready() {
    "$PYTHON" -c "import urllib.request; urllib.request.urlopen('$BASE/readyz', timeout=2)" 2>/dev/null \
      && grep -q " ready\." "$dir/worker-feeds.log" && grep -q " ready\." "$dir/worker-default.log"
  }
  for _ in $(seq 240); do
    ready && return 0
    for pid in "$@"; do
      kill -0 "$pid" 2>/dev/null || { tail -n 30 "$dir"/*.log; echo "a process died while starting" >&2; return 1; }
    done
    sleep 0.5
  done
  ready || { echo "the server or a worker did not become ready in 2 minutes" >&2; return 1; }
}

# stack_stop PID...: TERM, then wait for each.
stack_stop() {
  local pid
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
}
