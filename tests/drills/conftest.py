"""Fault drills break real services: each breaks only a service of its own, started for it.

`private_postgres`, `private_redis` and `private_rabbit` start one of
tests.support.private_services and end it whatever happens; `drill_stack` is
this run's stack moved onto whichever of them the test asked for (the
machine's services, and the run's database, for the rest), and `make_drill_app`
builds apps on it. So a drill can stop, pause or fill its service while other
suites and a developer's own server go on beside it.

Drills get a long pytest timeout: a teardown cut short would leave a service
of theirs running, and they run one after another on one pytest-xdist worker
(group "drills"), so no two drills load the machine at once. Each drill reports
what it tried and measured through `figures`; the lines are printed as they come
(with -s) and kept with the test's report, from which tests/conftest.py prints
a "drill figures" summary, with workers or without.
"""
from __future__ import annotations

import random
from operator import attrgetter
from pathlib import Path

import pytest

from tests.conftest import FIGURE, apps_on
from tests.support.private_services import PrivatePostgres, PrivateRabbit, PrivateRedis
from tests.support.stack import SUITE

DRILLS = Path(__file__).parent


@pytest.fixture
def figures(request):
    """`figures("...")`: one line of what the drill tried or measured."""
    def say(text: str) -> None:
        line = f"{request.node.name}: {text}"
        request.node.user_properties.append((FIGURE, line))
        print(line, flush=True)
    return say


def pytest_collection_modifyitems(config, items):
    """Drills run on one worker (pytest-xdist deals its largest group, theirs, first: the other
    worker takes the rest meanwhile). They get 10 minutes; the nemesis and the soak 15 minutes
    more than they are asked to run."""
    for item in items:
        if item.path.is_relative_to(DRILLS):
            item.add_marker(pytest.mark.xdist_group("drills"))
        if item.get_closest_marker("soak"):
            item.add_marker(pytest.mark.timeout((config.getoption("--soak") or 120) + 900))
        elif "nemesis" in item.nodeid:
            item.add_marker(pytest.mark.timeout(config.getoption("--nemesis") + 900))
        elif item.get_closest_marker("drill"):
            item.add_marker(pytest.mark.timeout(600))


@pytest.fixture
def nemesis_seconds(request) -> float:
    return request.config.getoption("--nemesis")


@pytest.fixture
def nemesis_seed(request) -> int:
    seed = request.config.getoption("--nemesis-seed")
    return seed if seed is not None else random.SystemRandom().randrange(10**6)


@pytest.fixture
def soak_seconds(request) -> int:
    return request.config.getoption("--soak") or 120


# The setting each private service takes, and its URL. Redis directly: these drills stop, pause or
# fill the server, they do not cut its connections (the nemesis does, through its proxy).
SERVICES = {"private_postgres": ("pg_admin_url", attrgetter("admin_url")),
            "private_redis": ("redis_url", attrgetter("direct_url")),
            "private_rabbit": ("rabbitmq_url", attrgetter("url"))}


def _running(service):
    """Start `service` and hand it over; end it whatever happened, a start that failed half-way too."""
    try:
        service.start()
        yield service
    finally:
        service.close()


@pytest.fixture
def private_postgres():
    """A PostgreSQL cluster of the drill's own (about 3 s to start)."""
    yield from _running(PrivatePostgres())


@pytest.fixture
def private_redis():
    """A Redis of the drill's own (a fraction of a second to start)."""
    yield from _running(PrivateRedis())


@pytest.fixture
def private_rabbit():
    """A RabbitMQ node of the drill's own (several seconds to start)."""
    yield from _running(PrivateRabbit())


@pytest.fixture
def drill_stack(request, pg_url, tmp_path):
    """This run's stack on the services of the drill's own: the `private_*` fixtures the test asked for.

    Its apps, gunicorns and workers reach the rest on the machine, with the run's database (emptied
    first, with the run's Redis keys, as for every test on the stores). On a private PostgreSQL
    the database is made and migrated there. The drill's processes are stopped at the end, before
    its services; the names are the run's, which go with a private service or when the run ends.
    """
    urls = {setting: url(request.getfixturevalue(fixture))
            for fixture, (setting, url) in SERVICES.items() if fixture in request.fixturenames}
    stack = SUITE.on(tmp_path, **urls)
    try:
        if "pg_admin_url" in urls:
            stack.create_database()
        yield stack
    finally:
        stack.stop_processes()


@pytest.fixture
def make_drill_app(drill_stack):
    """`make_app` on the drill's stack."""
    yield from apps_on(drill_stack)
