# syntax=docker/dockerfile:1
# Two images from one file:
#   docker build --target web    -t ranked-feed-web .     # gunicorn, no TensorFlow
#   docker build --target worker -t ranked-feed-worker .  # Celery workers and beat, with TensorFlow
# Both run as an unprivileged user on a read-only root filesystem: the only
# writable paths are the mounts the deployment gives them (/tmp and
# PROMETHEUS_MULTIPROC_DIR in memory; the web's /app/media on a volume).

ARG PYTHON_IMAGE=python:3.11.7-slim-bookworm

# --- Dependencies, built once per requirements file --------------------------
FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
WORKDIR /app

FROM base AS deps-web
RUN python -m venv /opt/venv
COPY requirements-web.txt ./
RUN pip install --no-compile -r requirements-web.txt

FROM deps-web AS deps-worker
COPY requirements.txt ./
RUN pip install --no-compile -r requirements.txt

# --- Static files, collected at build time ------------------------------------
FROM deps-web AS static
COPY . .
# collectstatic needs settings, not secrets: a throwaway key, at build only.
RUN DEBUG=0 SECRET_KEY=collectstatic-build-only-never-used-to-sign-anything-0123456789 python manage.py collectstatic --noinput --verbosity 0

# --- Runtime images ----------------------------------------------------------
FROM base AS runtime
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="Ranked Feed" \
      org.opencontainers.image.description="A social network whose home feed is ranked by a learned engagement model" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Proprietary" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app
ENV DJANGO_SETTINGS_MODULE=config.settings \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus \
    LOG_FORMAT=json
COPY --chown=root:root . .
COPY --from=static --chown=root:root /app/staticfiles /app/staticfiles
# The one directory the app writes to outside /tmp: uploaded avatars
# (MEDIA_ROOT), where the deployment mounts a volume.
RUN mkdir -p /app/media && chown 10001:10001 /app/media
# The code is root's and read-only to the app user: a compromised process
# cannot rewrite it, even where the root filesystem is writable.
USER 10001:10001

FROM runtime AS web
COPY --from=deps-web /opt/venv /opt/venv
EXPOSE 8000
# Python's own HTTP client (the image has no curl): liveness only, as in Kubernetes.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]
CMD ["sh", "-c", "mkdir -p \"$PROMETHEUS_MULTIPROC_DIR\" && exec gunicorn -c config/gunicorn.py config.wsgi"]

FROM runtime AS worker
COPY --from=deps-worker /opt/venv /opt/venv
# The worker answers Celery's ping over the broker: the probe a worker that
# hangs on the broker or on a task fails.
HEALTHCHECK --interval=30s --timeout=15s --start-period=60s --retries=3 \
    CMD ["sh", "-c", "celery -A config inspect ping --destination \"${CELERY_QUEUE:-default}@$HOSTNAME\" --timeout 10"]
ENV CELERY_QUEUE=default
CMD ["sh", "-c", "mkdir -p \"$PROMETHEUS_MULTIPROC_DIR\" && exec celery -A config worker -Q \"$CELERY_QUEUE\" -n \"$CELERY_QUEUE@%h\" --loglevel INFO"]
