#!/bin/sh
# The image's three modes; anything else is run as given.
#   web      gunicorn -c gunicorn.conf.py wsgi:app (PORT, WEB_CONCURRENCY, GUNICORN_THREADS)
#   worker   flask --app wsgi worker [--no-listener]
#   migrate  flask --app wsgi db upgrade
set -e
mode="${1:-web}"
[ "$#" -gt 0 ] && shift
case "$mode" in
    web)     exec gunicorn -c gunicorn.conf.py wsgi:app "$@" ;;
    worker)  exec flask --app wsgi worker "$@" ;;
    migrate) exec flask --app wsgi db upgrade "$@" ;;
    *)       exec "$mode" "$@" ;;
esac
