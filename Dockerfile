# One image, three run modes:
#   docker run IMAGE                                  web (gunicorn on $PORT, 8002)
#   docker run IMAGE flask --app wsgi worker          expiry listener, sweeper, outbox relay
#   docker run IMAGE flask --app wsgi db upgrade      migrations (run before a new release)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=8002 \
    APP_ENV=production

WORKDIR /srv/calendar
RUN useradd --system --uid 10001 calendar

# Installed in place (-e): the app finds migrations/ beside its package.
COPY setup.cfg pyproject.toml README.md wsgi.py gunicorn.conf.py ./
COPY app ./app
COPY migrations ./migrations
RUN pip install --no-cache-dir -e .

USER calendar
EXPOSE 8002
CMD ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
