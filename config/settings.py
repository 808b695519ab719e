"""The one settings module. Development, tests and production differ only by
environment variables (12-factor); every knob is read through `env` below.

Embedded default: with no DATABASE_URL / REDIS_URL the app runs on a SQLite
file, a file cache and a file broker under `var/`, shared by the web process
and the one worker `make run` starts beside it (bin/run-embedded), so the
whole product runs on any machine and model work still never runs in the web
process. Production, the tests and the benchmarks set both URLs.
"""

from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django_guid.integrations import CeleryIntegration
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"  # the embedded default's cache and broker files
env = environ.Env()

DEVELOPMENT_SECRET_KEY = "development-only-secret-key-never-use-in-production"  # noqa: S105  # nosec B105
SECRET_KEY = env.str("SECRET_KEY", default=DEVELOPMENT_SECRET_KEY)
DEBUG = env.bool("DEBUG", default=False)
# Django's own bar (`check --deploy`, security.W009): a shorter key, or one
# of few distinct characters, can be guessed, and with it every session and
# signed feed cursor forged. An empty key would start, then fail every page.
SECRET_KEY_MIN_CHARS = 50
SECRET_KEY_MIN_UNIQUE_CHARS = 5
if not DEBUG and SECRET_KEY == DEVELOPMENT_SECRET_KEY:
    raise ImproperlyConfigured(
        "Refusing to start with DEBUG off and the development SECRET_KEY: "
        "set SECRET_KEY (production) or DEBUG=1 (development)."
    )
if not DEBUG and (len(SECRET_KEY) < SECRET_KEY_MIN_CHARS or len(set(SECRET_KEY)) < SECRET_KEY_MIN_UNIQUE_CHARS):
    raise ImproperlyConfigured(
        f"Refusing to start with DEBUG off and a weak SECRET_KEY: it needs at least {SECRET_KEY_MIN_CHARS} "
        f"characters, {SECRET_KEY_MIN_UNIQUE_CHARS} of them different "
        '(python -c "import secrets; print(secrets.token_urlsafe(50))").'
    )
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
# Kubernetes: the kubelet's probes send Host: <pod IP>:<port> (deploy/k8s
# sets POD_IP from the pod's status). Only the probes address a pod so.
if env.str("POD_IP", default=""):
    ALLOWED_HOSTS.append(env.str("POD_IP"))
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# make bench-serving's bare JSON view (config/bench.py) at /bench/floor: set
# only by bin/bench-serving, never in a deployment.
BENCH_FLOOR_VIEW = env.bool("BENCH_FLOOR_VIEW", default=False)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_guid",
    "django_prometheus",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "users",
    "feed",
    "ranking",
    "simulator",
]

MIDDLEWARE = [
    # First and last: request metrics cover everything in between.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # The request id is set before anything can log.
    "django_guid.middleware.guid_middleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "config.errors.request_size_limit",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # A limit refusing a page (the admin's log-in...): a 429 page, not a 500.
    "config.pages.RateLimitedMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "users.context_processors.notifications",
            ],
        },
    },
]

# --- Data -------------------------------------------------------------------

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE_S", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "users.User"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="rf"),
            "OPTIONS": {
                # Redis holds only derived data: a slow or dead Redis must cost
                # a request milliseconds, never a hang.
                "SOCKET_CONNECT_TIMEOUT": 0.5,
                "SOCKET_TIMEOUT": 0.5,
            },
        }
    }
    # A Redis outage degrades throttling and cached feeds, never a 500.
    DJANGO_REDIS_IGNORE_EXCEPTIONS = True
    DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
else:
    # Files, not process memory: the web process and the worker `make run`
    # starts beside it must see the same ranked feeds.
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": VAR_DIR / "cache"}
    }

# --- Celery -----------------------------------------------------------------

# Embedded default: a broker in files, so that even on one machine with no
# Redis the model work runs in a worker process and never in the web process.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL or None)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES = (Queue("default"), Queue("feeds"), Queue("training"))
CELERY_TASK_ROUTES = {
    "ranking.tasks.train_*": {"queue": "training"},
    "ranking.tasks.build_feed": {"queue": "feeds"},
}
# Beat: the nightly retrain (it registers a new version and activates it only
# when it beats the active one on the latest slice of the log).
CELERY_BEAT_SCHEDULE = {
    "train-ranker-nightly": {
        "task": "ranking.tasks.train_ranker_task",
        "schedule": crontab(hour=env.int("TRAIN_RANKER_HOUR_UTC", default=3), minute=0),
    },
    "prune-counters-nightly": {"task": "ranking.tasks.prune_counters", "schedule": crontab(hour=4, minute=30)},
}
# Tasks are idempotent, so a task lost with its worker is simply run again.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_EXPIRES = 3600
# A dead broker must not block a web request: fail fast, the caller logs it.
CELERY_BROKER_CONNECTION_TIMEOUT = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The longest a training run may take: past it the training worker kills it
# (CELERY_TASK_TIME_LIMIT below). 200,000 examples train in ~1 minute here
# (README, "Measured"); a night's 28-day window is some times that.
TRAIN_TIME_LIMIT_S = env.int("TRAIN_TIME_LIMIT_S", default=3600)
# How long the Redis broker leaves a task taken by a worker (acks_late: not
# acknowledged until it ends) before it hands it to another, presuming its
# worker dead. Above the longest training, or a nightly retrain still running
# would be started a second time beside itself. Feed builds do not wait for
# it: their "building" mark expires within seconds (FEED_BUILD_MARK_TTL_S)
# and the next read asks again.
CELERY_VISIBILITY_TIMEOUT_S = env.int("CELERY_VISIBILITY_TIMEOUT_S", default=2 * TRAIN_TIME_LIMIT_S)
if CELERY_VISIBILITY_TIMEOUT_S <= TRAIN_TIME_LIMIT_S:
    raise ImproperlyConfigured(
        f"CELERY_VISIBILITY_TIMEOUT_S ({CELERY_VISIBILITY_TIMEOUT_S}) must exceed TRAIN_TIME_LIMIT_S "
        f"({TRAIN_TIME_LIMIT_S}): a training still running would be delivered to a second worker."
    )
CELERY_TASK_ANNOTATIONS = {"ranking.tasks.train_ranker_task": {"time_limit": TRAIN_TIME_LIMIT_S}}
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 1,
    "socket_timeout": 2,
    "max_retries": 0,
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT_S,
}
if CELERY_BROKER_URL == "filesystem://":
    BROKER_FOLDER = VAR_DIR / "broker"
    BROKER_FOLDER.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_FOLDER),
        "data_folder_out": str(BROKER_FOLDER),
        # Its exchange table too: kombu's default is `control/` in the working directory.
        "control_folder": str(BROKER_FOLDER / "control"),
    }
CELERY_TASK_PUBLISH_RETRY = False

# --- API --------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_SCHEMA_CLASS": "config.schema.ErrorDocumentingAutoSchema",
    "DEFAULT_PAGINATION_CLASS": "config.api.CreatedAtCursorPagination",
    "PAGE_SIZE": 20,
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    "DEFAULT_PARSER_CLASSES": [
        "config.api.StrictJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["config.api.WriteRateThrottle"],
    # How many proxies in front of the web process append to X-Forwarded-For
    # (the Kubernetes ingress is one). 0: the client is REMOTE_ADDR and the
    # header is ignored, since anyone can send it (config.ratelimit.client_ip).
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Ranked Feed API",
    "DESCRIPTION": "A social network whose home feed is ranked by a learned engagement model.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from the installed sidecar package: the docs work offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # <username:...> paths (config/converters.py, the same pattern).
    "PATH_CONVERTER_OVERRIDES": {"username": {"type": "string", "pattern": r"^[A-Za-z0-9_]{1,30}$"}},
}

# --- Product ----------------------------------------------------------------

TWEET_MAX_CHARS = 280
FEED_PAGE_SIZE = env.int("FEED_PAGE_SIZE", default=20)
FEED_PAGE_SIZE_MAX = 100
# Ranked feeds: how many items a stored list keeps, how long it lives, and
# after how long an unmarked list is rebuilt anyway (fan-out only marks the
# feeds of recently active followers stale).
RANKED_FEED_MAX_ITEMS = env.int("RANKED_FEED_MAX_ITEMS", default=500)
RANKED_FEED_TTL_S = env.int("RANKED_FEED_TTL_S", default=24 * 3600)
RANKED_FEED_MAX_AGE_S = env.int("RANKED_FEED_MAX_AGE_S", default=15 * 60)
# A read that finds no fresh list asks for a build and marks it asked for, so
# that other reads do not ask again. The mark lives about as long as the p99
# of a build from request to stored list: a build is ~0.3 s at p99 (README,
# "Measured"), plus its wait in the feeds queue (KEDA adds a worker per 20
# waiting builds, about a second of work) and a worker's cold start (~3 s
# here: TensorFlow and the model load on its first build). Past it the build
# is presumed lost with its worker and the next read asks again. Too short
# costs a duplicate build (they are idempotent); too long, a "pending" feed
# that long after a worker was lost (the tests/ranking/test_recovery.py case).
FEED_BUILD_MARK_TTL_S = env.int("FEED_BUILD_MARK_TTL_S", default=5)
# A worker that finds no model it can rank with says so for this long: reads
# answer `"ranking": "off"` (the latest timeline) instead of asking for builds
# that cannot rank, then ask again. Activating a version clears it at once.
RANKING_UNAVAILABLE_RECHECK_S = env.int("RANKING_UNAVAILABLE_RECHECK_S", default=60)
# Model versions a feeds worker process keeps loaded besides the active one
# (the versions experiments' variants name), the least recently used dropped
# first: each costs a load once and its memory while kept.
RANKING_MODEL_CACHE_SIZE = env.int("RANKING_MODEL_CACHE_SIZE", default=3)
# Training (ranking.training.train). One person's examples are capped, so
# that one account flooding the engagement log cannot make the model learn
# that account: a heavy reader sees a few hundred tweets a day, ~5,000 over
# the nightly 28-day window; the simulated people see ~60 a day. Past the
# cap a person's impressions are thinned evenly over time (deterministic).
TRAIN_MAX_EXAMPLES_PER_USER = env.int("TRAIN_MAX_EXAMPLES_PER_USER", default=5000)
# A new model is activated only when, on the validation slice, its like
# ROC-AUC reaches this (a constant predictor scores 0.5) and its NDCG@10
# beats the chronological order's (the feed it would replace).
TRAIN_MIN_LIKE_ROC_AUC = env.float("TRAIN_MIN_LIKE_ROC_AUC", default=0.55)
# The example builder's engine (DuckDB, in the training worker): its memory
# limit (past it, joins and windows spill to a temporary directory) and its
# threads (0: every core the process may use).
TRAINING_ENGINE_MEMORY = env.str("TRAINING_ENGINE_MEMORY", default="2GB")
TRAINING_ENGINE_THREADS = env.int("TRAINING_ENGINE_THREADS", default=0)
# Fan-out marks stale the lists of the followers who read their feed within
# this window (User.last_feed_at); the others are rebuilt when they come back.
FANOUT_ACTIVE_WINDOW_S = env.int("FANOUT_ACTIVE_WINDOW_S", default=3 * 24 * 3600)
# User.last_feed_at is written when it is older than this: a reader costs one
# UPDATE per step, not one per request; the window is days, so minutes are noise.
LAST_FEED_AT_STEP_S = env.int("LAST_FEED_AT_STEP_S", default=5 * 60)
# Followers a fan-out task marks stale: one indexed query and one Redis write each.
FANOUT_CHUNK = env.int("FANOUT_CHUNK", default=1000)
# The counters' day rows are kept this many days (at least the longest
# feature window, 30 days), then pruned nightly: no build reads them, and the
# tables would grow with history. Training counts the log, which is kept.
COUNTERS_KEEP_DAYS = env.int("COUNTERS_KEEP_DAYS", default=35)
ENGAGEMENT_BATCH_MAX_EVENTS = 500
# Client events carry when they happened (feed.services.engagements_log).
# Refused: older than this, for a batch held back longer is a client bug...
ENGAGEMENT_MAX_AGE_S = env.int("ENGAGEMENT_MAX_AGE_S", default=24 * 3600)
# ...and further than this in the future, or before the feed request that
# served the item; closer than this, a time is moved onto the bound.
ENGAGEMENT_CLOCK_SKEW_S = env.int("ENGAGEMENT_CLOCK_SKEW_S", default=30)
# Events one user may log per period (impressions, dwells and clicks; a
# reader scrolling fast sends a few hundred a minute).
ENGAGEMENT_RATE = env.str("ENGAGEMENT_RATE", default="3000/min")
# A feed request's dwells add up to at most the time since it was served
# (plus the clock skew) times this: each card's dwell runs while it is at
# least half visible, and a tall screen shows this many cards at once.
ENGAGEMENT_DWELL_CARDS_IN_VIEW = env.int("ENGAGEMENT_DWELL_CARDS_IN_VIEW", default=10)
# Longer than anyone looks at one tweet: a bigger dwell is a client bug.
DWELL_MAX_MS = env.int("DWELL_MAX_MS", default=30 * 60 * 1000)

# The business metric and the ranking score share these weights, so the ranker
# optimises exactly what the metric measures. Defaults: the published weights
# of Twitter's home-timeline heavy ranker (2023-04-05) for the heads we share
# (fav 0.5, retweet 1.0, reply 13.5, negative feedback -74, report -369).
# `dwell` counts a view of one tweet of at least DWELL_LONG_MS: our own
# default, 10 s and weight 2.0 (between a retweet and a reply; Twitter's
# nearest head, "open the conversation and stay 2 minutes", weighs 10).
# Override any subset from the environment: ENGAGEMENT_WEIGHTS="reply=20,hide=-50".
DEFAULT_ENGAGEMENT_WEIGHTS = {
    "like": 0.5,
    "retweet": 1.0,
    "reply": 13.5,
    "hide": -74.0,
    "report": -369.0,
    "dwell": 2.0,
}
ENGAGEMENT_WEIGHTS = {
    **DEFAULT_ENGAGEMENT_WEIGHTS,
    **env.dict("ENGAGEMENT_WEIGHTS", cast={"value": float}, default={}),
}
if set(ENGAGEMENT_WEIGHTS) != set(DEFAULT_ENGAGEMENT_WEIGHTS):
    raise ImproperlyConfigured(f"ENGAGEMENT_WEIGHTS takes only the keys {sorted(DEFAULT_ENGAGEMENT_WEIGHTS)}.")
DWELL_LONG_MS = env.int("DWELL_LONG_MS", default=10_000)
# An experiment's readout adjusts each user's metric by their own weighted
# engagement over this many days before it started (CUPED).
EXPERIMENT_PRE_PERIOD_DAYS = env.int("EXPERIMENT_PRE_PERIOD_DAYS", default=14)

# --- Rate limits (config/ratelimit.py) ----------------------------------------

# Writes (API and pages together: posts, likes, follows, event batches...) per
# user, or per client IP when anonymous. Reads are not limited.
WRITE_RATE = env.str("WRITE_RATE", default="600/min")
# Log-in attempts (page, admin, token API) per client IP, and failed ones per
# username: over that, the username is locked out until the window slides on.
LOGIN_IP_RATE = env.str("LOGIN_IP_RATE", default="20/min")
LOGIN_FAILURE_RATE = env.str("LOGIN_FAILURE_RATE", default="10/15m")
# Sign-up attempts (page and API) per client IP and per username asked for.
SIGNUP_IP_RATE = env.str("SIGNUP_IP_RATE", default="10/h")
SIGNUP_USERNAME_RATE = env.str("SIGNUP_USERNAME_RATE", default="5/h")

# --- Web --------------------------------------------------------------------

# Django's, behind the log-in limits (users/auth.py).
AUTHENTICATION_BACKENDS = ["users.auth.ThrottledModelBackend"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
# Uploaded avatars (users.avatars) are stored through default_storage under
# MEDIA_ROOT and linked at MEDIA_URL. With MEDIA_SERVE on, Django serves them
# itself (config.media), so `make run` and a lone gunicorn need no web
# server; turn it off when a web server or a CDN serves MEDIA_URL.
MEDIA_URL = env.str("MEDIA_URL", default="/media/")
MEDIA_SERVE = env.bool("MEDIA_SERVE", default=True)
AVATAR_MAX_BYTES = env.int("AVATAR_MAX_BYTES", default=2 * 1024 * 1024)
# Refused before decoding: an image this large decodes to ~64 MB (RGBA), and
# a few bytes of PNG can claim far more (a decompression bomb).
AVATAR_MAX_PIXELS = env.int("AVATAR_MAX_PIXELS", default=4096 * 4096)
AVATAR_SIZE_PX = 256

if not DEBUG:
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=True)
    CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=True)
    # HTTPS only: plain HTTP is redirected, and browsers are told (HSTS) to
    # never try it again. Both can be turned off for a plain-HTTP machine
    # (compose on localhost: see .env.example).
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
# The orchestrator's probes and Prometheus reach the pod directly, over
# plain HTTP: a redirect to https would fail them. Patterns match the path
# without its leading slash.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
# Behind a TLS-terminating proxy the request reaches us as plain HTTP; the
# proxy says what the client used in this header (e.g. X-Forwarded-Proto).
# Set it only when such a proxy is always in front: a client could send it.
SECURE_PROXY_SSL_HEADER_NAME = env.str("SECURE_PROXY_SSL_HEADER", default="")
if SECURE_PROXY_SSL_HEADER_NAME:
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + SECURE_PROXY_SSL_HEADER_NAME.upper().replace("-", "_"), "https")

# Content-Security-Policy (django-csp): only our own scripts, styles, images
# and connections, no inline script or style anywhere, no framing. A page
# that needs an exception must move its script or style into a static file.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        # A MEDIA_URL on another origin (a CDN) is where avatars come from.
        "img-src": [SELF, "data:", *([MEDIA_URL] if MEDIA_URL.startswith(("https://", "http://")) else [])],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# --- Operations -------------------------------------------------------------

# A request id per request (X-Request-ID when the caller sent a valid one, a
# new one otherwise), returned in the response, sent along with every task
# the request enqueues (Celery headers) and put on every log line, in the web
# process and in the task's worker alike.
DJANGO_GUID = {
    "GUID_HEADER_NAME": "X-Request-ID",
    # Only UUIDs (32 hex digits or the dashed form) are taken from callers: a
    # free-form header would let a client write what it likes into our logs.
    "VALIDATE_GUID": True,
    "IGNORE_URLS": ["healthz", "readyz", "metrics"],
    "INTEGRATIONS": [CeleryIntegration(use_django_logging=True, log_parent=True)],
}

# /metrics answers only with `Authorization: Bearer <METRICS_TOKEN>`; with no
# token set it is not served at all (404), so it is never public by accident.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# Celery workers serve their own metrics (feed build latency and candidates)
# on this port when it is set; it is scraped inside the cluster, never routed.
METRICS_WORKER_PORT = env.int("METRICS_WORKER_PORT", default=0)

# `json`: one JSON object per line (for a log collector); `plain`: for people.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured("LOG_FORMAT is `plain` or `json`.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "django_guid.log_filters.CorrelationId", "correlation_id_field": "request_id"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(process)d",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            "timestamp": False,
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # django-guid says at INFO each time it sets an id: one line per request
    # and per task, with nothing the request id on every other line lacks.
    # django-health-check logs a traceback per failed check: one per probe,
    # every few seconds, while no model is active. The probe's JSON answer
    # and the orchestrator's events already carry the failure.
    "loggers": {"django_guid": {"level": "WARNING"}, "health_check": {"level": "ERROR"}},
}
