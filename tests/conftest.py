"""Fixtures shared by every layer: real PostgreSQL, Redis and RabbitMQ.

The run gets its own throwaway stack (tests.support.stack.SUITE): a database
migrated with our Alembic migrations, a Redis key prefix and an exchange name,
all removed at the end. Every test on the database or Redis starts from empty
tables; a test that needs neither runs without any service.
"""
from __future__ import annotations

import types
import uuid

import pytest
import redis

from tests.support.stack import REDIS_URL, SUITE, Stack

API_KEY = "test-client-key"
ADMIN_KEY = "test-admin-key"
STORES = frozenset({"pg_url", "redis_client"})
FIGURE = "drill figure"  # a test report's user property: one line a drill measured (tests/drills)
_FIGURES: list[str] = []


def pytest_addoption(parser):
    parser.addoption("--soak", nargs="?", type=int, const=120, default=None, metavar="SECONDS",
                     help="also run the tests marked soak, for SECONDS (120 if not given; "
                          "left out by default)")
    parser.addoption("--nemesis", type=float, default=60.0, metavar="SECONDS",
                     help="how long the nemesis drill draws faults (default 60)")
    parser.addoption("--nemesis-seed", type=int, default=None, metavar="N",
                     help="replay the nemesis drill's faults from seed N (default: a new seed, printed)")


def pytest_collection_modifyitems(config, items):
    """Leave soak tests out unless --soak: deselected, so a normal run says so without skipping."""
    if config.getoption("--soak") is not None:
        return
    soak = [item for item in items if item.get_closest_marker("soak")]
    if soak:
        config.hook.pytest_deselected(items=soak)
        items[:] = [item for item in items if not item.get_closest_marker("soak")]


def pytest_runtest_logreport(report):
    """Keep the drills' figures from each test's last report: a worker's reports reach the
    controller with their user properties, so the summary is whole under pytest-xdist too."""
    if report.when == "teardown":
        _FIGURES.extend(line for name, line in report.user_properties if name == FIGURE)


def pytest_terminal_summary(terminalreporter):
    if _FIGURES:
        terminalreporter.section("drill figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def run_stack():
    """This run's stack: whatever it started or made is removed at the end of the run."""
    try:
        yield SUITE
    finally:
        SUITE.close()


@pytest.fixture(scope="session")
def pg_url(run_stack):
    """A freshly migrated PostgreSQL database for this run."""
    return run_stack.create_database()


@pytest.fixture(scope="session")
def redis_client(run_stack):
    client = redis.Redis.from_url(REDIS_URL)
    client.ping()  # no Redis is a failure, never a skip
    yield client
    client.close()


@pytest.fixture(autouse=True)
def _clean_stores(request):
    """A test on the run's database or Redis starts from empty tables and none of the run's keys.

    Only such a test (one whose fixtures reach `pg_url` or `redis_client`): one that
    needs neither (arithmetic, parsing, reading files) runs without any service.
    """
    if STORES.isdisjoint(request.fixturenames):
        return
    request.getfixturevalue("pg_url")
    SUITE.truncate()
    SUITE.clear_redis(request.getfixturevalue("redis_client"))


def apps_on(stack: Stack):
    """The body of an app-factory fixture on `stack`'s stores: it yields `make(**overrides)`,
    then closes every app made (its gate and its database pool)."""
    from app.extensions import db

    built = []

    def _make(**overrides: str):
        from app import create_app

        app = create_app(stack.env(**overrides))
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
def make_app(pg_url):
    """Build apps on this run's stores; `make_app(SLOT_LOCK_SECONDS="1")` overrides."""
    yield from apps_on(SUITE)


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
    server = SUITE.start_gunicorn(SUITE.env(API_KEYS=API_KEY, ADMIN_API_KEYS=ADMIN_KEY),
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
    """Start the real worker loops (threads) for an app; stopped at teardown.

    `only="timer" | "listener" | "sweeper"`: that expiry path alone (see `app.worker.Worker`).
    """
    from app.worker import Worker

    started: list[Worker] = []

    def _run(app, listen: bool = True, only: str | None = None) -> Worker:
        worker = Worker(app, listen=listen, only=only).start()
        started.append(worker)
        return worker

    yield _run
    for worker in started:
        worker.stop()


@pytest.fixture
def relay_worker(pg_url, tmp_path):
    """A `flask worker` process that only relays (sweeper idle, no listener)."""
    worker = SUITE.start_worker(SUITE.env(SWEEP_INTERVAL_SECONDS="3600"), tmp_path, listen=False,
                                name="relay")
    yield worker
    worker.stop()
