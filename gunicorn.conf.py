"""gunicorn settings: `gunicorn -c gunicorn.conf.py wsgi:app`.

The app is imported in each worker (no preload) so no database, Redis or
broker connection is ever opened in the master and shared across a fork.
"""
import glob
import multiprocessing
import os
import tempfile

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8002')}"
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
preload_app = False
# Prometheus multiprocess mode: each worker writes its samples to files here and
# /metrics adds them up. Set before any worker imports prometheus_client.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="calendar-metrics-")
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
accesslog = "-"
errorlog = "-"
# JSON lines (LOG_FORMAT=text for humans); one access line per request with
# request_id, method, path (no query string, never a body), status, duration_ms.
logger_class = "app.observability.logs.GunicornLogger"


def on_starting(server):
    """Start the metrics from zero: samples of a previous run must not be added to ours."""
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(directory, exist_ok=True)
    for stale in glob.glob(os.path.join(directory, "*.db")):
        os.remove(stale)


def child_exit(server, worker):
    """A dead worker's live gauges must not count; its counters stay in the totals."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):
    """With RUN_WORKER_IN_PROCESS, run the expiry/sweeper/relay loops in each web worker.

    Started after the fork, so each process has its own connections.
    """
    if os.environ.get("RUN_WORKER_IN_PROCESS", "").lower() in ("1", "true", "yes"):
        from app.worker import start_in_background

        worker.calendar_worker = start_in_background(worker.wsgi)


def worker_exit(server, worker):
    """Stop the in-process loops cleanly when a web worker exits."""
    background = getattr(worker, "calendar_worker", None)
    if background is not None:
        background.stop()
