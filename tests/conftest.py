"""Fixtures shared by every layer: real PostgreSQL, Redis and RabbitMQ.

The run gets its own database (migrated with our Alembic migrations), Redis
key prefix and exchange name; every test starts from empty tables.
"""
from __future__ import annotations

import types
import uuid

import pytest
import redis

from tests.support import stores
from tests.support.server import start_gunicorn

API_KEY = "test-client-key"
ADMIN_KEY = "test-admin-key"


def pytest_addoption(parser):
    parser.addoption("--soak", action="store_true",
                     help="also run the tests marked soak (minutes long; left out by default)")


def pytest_collection_modifyitems(config, items):
    """Leave soak tests out unless --soak: deselected, so a normal run says so without skipping."""
    if config.getoption("--soak"):
        return
    soak = [item for item in items if item.get_closest_marker("soak")]
    if soak:
        config.hook.pytest_deselected(items=soak)
        items[:] = [item for item in items if not item.get_closest_marker("soak")]


@pytest.fixture(scope="session")
def pg_url():
    """A freshly migrated PostgreSQL database for this run."""
    with stores.migrated_database(f"calendar_test_{stores.RUN_ID}", service_env) as url:
        yield url


@pytest.fixture(scope="session")
def redis_client():
    client = redis.Redis.from_url(stores.REDIS_URL)
    client.ping()  # no Redis is a failure, never a skip
    yield client
    stores.clear_redis(client)
    client.close()


@pytest.fixture(scope="session", autouse=True)
def _remove_run_exchange():
    """The run's durable exchange would outlive the run: delete it at the end."""
    yield
    stores.delete_exchange(stores.EXCHANGE)


@pytest.fixture(autouse=True)
def _clean_stores(request, pg_url, redis_client):
    stores.truncate_all(pg_url)
    stores.clear_redis(redis_client)
    yield


def service_env(pg_url: str, **overrides: str) -> dict[str, str]:
    """Environment for an app or gunicorn on this run's stores.

    Every setting is given explicitly, so a developer's own environment
    (APP_ENV, MAX_HOLDS_PER_CANDIDATE, ...) cannot change what a test proves.
    """
    from app.config import Settings

    env = {name: "" for name in Settings.__dataclass_fields__}
    env.update({"APP_ENV": "development", "DATABASE_URL": pg_url, "REDIS_URL": stores.REDIS_URL,
                "REDIS_KEY_PREFIX": stores.REDIS_PREFIX, "EVENTS_EXCHANGE": stores.EXCHANGE,
                "RUN_WORKER_IN_PROCESS": "false"})
    env.update(overrides)
    return env


@pytest.fixture
def make_app(pg_url):
    """Build apps on this run's stores; `make_app(SLOT_LOCK_SECONDS="1")` overrides."""
    from app.extensions import db

    built = []

    def _make(**overrides: str):
        from app import create_app

        app = create_app(service_env(pg_url, **overrides))
        app.config["TESTING"] = True
        built.append(app)
        return app

    yield _make
    for app in built:
        app.extensions["calendar.gate"].close()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def ctx(app):
    """An app context for service-layer tests."""
    with app.app_context():
        yield app


@pytest.fixture(scope="session")
def gunicorn_server(pg_url, tmp_path_factory):
    """One gunicorn for the run: PostgreSQL + Redis, API keys on."""
    server = start_gunicorn(service_env(pg_url, API_KEYS=API_KEY, ADMIN_API_KEYS=ADMIN_KEY),
                            tmp_path_factory.mktemp("gunicorn"))
    yield server
    server.stop()


@pytest.fixture
def live_service(gunicorn_server, make_app):
    """The running service with the demo hub seeded (for client contract tests)."""
    from app.ops.demo import DEMO_HUB_ID, seed_demo

    with make_app().app_context():
        seed_demo()
    return types.SimpleNamespace(base_url=gunicorn_server.base_url, api_key=API_KEY,
                                 admin_key=ADMIN_KEY, demo_hub_id=str(DEMO_HUB_ID),
                                 server=gunicorn_server)


@pytest.fixture
def candidate():
    """A fresh candidate id per call."""
    return lambda: str(uuid.uuid4())


@pytest.fixture
def run_worker():
    """Start the real worker loops (threads) for an app; stopped at teardown."""
    from app.worker import Worker

    started: list[Worker] = []

    def _run(app, listen: bool = True) -> Worker:
        worker = Worker(app, listen=listen).start()
        started.append(worker)
        return worker

    yield _run
    for worker in started:
        worker.stop()


@pytest.fixture
def relay_worker(pg_url, tmp_path):
    """A `flask worker` process that only relays (sweeper idle, no listener)."""
    from tests.support.server import start_worker

    env = service_env(pg_url, SWEEP_INTERVAL_SECONDS="3600")
    worker = start_worker(env, tmp_path, "relay", listen=False)
    yield worker
    worker.stop()
