# syntax=docker/dockerfile:1
# One image, three run modes (docker/entrypoint.sh):
#   docker run IMAGE            web: gunicorn on $PORT (8002)          (or: IMAGE web)
#   docker run IMAGE worker     expiry listener, sweeper, outbox relay
#   docker run IMAGE migrate    flask --app wsgi db upgrade (before each release)
# Anything else runs as given, e.g. `IMAGE flask --app wsgi seed-demo` or
# `IMAGE python -m calendar_client.demo_backend` (the demo backend, client included).

# --- build: every dependency as a wheel, compiled here if it has to be ---------------------
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential libpq-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY setup.cfg pyproject.toml README.md ./
COPY app ./app
COPY client ./client
# The service runs from its source tree (migrations/ sits beside app/), so only its
# dependencies and the client are installed as wheels.
RUN pip wheel --wheel-dir /wheels . "./client[flask]" \
    && rm /wheels/itadias_calendar-*.whl

# --- runtime: slim, no compiler, not root ----------------------------------------------
FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/srv/calendar \
    FLASK_APP=wsgi \
    PORT=8002 \
    APP_ENV=production
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels /wheels/*.whl \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin calendar
WORKDIR /srv/calendar
COPY --chown=root:root wsgi.py gunicorn.conf.py ./
COPY --chown=root:root app ./app
COPY --chown=root:root migrations ./migrations
COPY --chown=root:root --chmod=0755 docker/entrypoint.sh /usr/local/bin/calendar-entrypoint
USER 10001:10001
EXPOSE 8002
# Liveness only: touches no dependency, so a database outage does not get the container killed.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/live' % os.environ.get('PORT', '8002'), timeout=2)"
ENTRYPOINT ["calendar-entrypoint"]
CMD ["web"]
