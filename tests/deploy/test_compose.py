"""docker-compose.yml, parsed: its services, commands and environment against what the code reads."""
from __future__ import annotations

import re
import shlex
from urllib.parse import urlsplit

import pytest
import yaml

from app.config import Settings
from tests.deploy.conftest import BACKEND_VARIABLES, ROOT, SERVICE_VARIABLES

_INTERPOLATION = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def interpolate(value):
    """Compose's ${VAR:-default}, as it resolves with none of the variables set."""
    return _INTERPOLATION.sub(lambda m: m.group(2) or "", str(value))


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {name: interpolate(value) for name, value in env.items()}


def command(service: dict) -> str:
    value = service["command"]
    return shlex.join(value) if isinstance(value, list) else value


def test_every_part_of_the_platform_is_a_service(services):
    assert {"postgres", "redis", "rabbitmq", "migrate", "api", "worker", "backend"} <= set(services)


def test_redis_emits_expired_key_events(services):
    args = services["redis"]["command"]
    assert args[args.index("--notify-keyspace-events") + 1] == "Ex"


def test_migrate_runs_once_and_everything_else_waits_for_it(services):
    assert command(services["migrate"]) == "flask --app wsgi db upgrade"
    assert services["migrate"].get("restart", "no") == "no"
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}


def test_two_api_replicas_and_two_workers_from_the_one_image(services):
    assert command(services["api"]) == "web" and command(services["worker"]) == "worker"
    assert services["api"]["deploy"]["replicas"] == 2 and services["worker"]["deploy"]["replicas"] == 2
    images = {services[name]["image"] for name in ("migrate", "api", "worker", "backend")}
    assert len(images) == 1 and all(services[n]["build"] == "." for n in ("api", "worker", "migrate"))


def test_the_demo_backend_is_on_8001_and_calls_the_api_with_a_valid_key(services):
    backend = services["backend"]
    env = environment(backend)
    assert "8001:8001" in backend["ports"] and env["BACKEND_PORT"] == "8001"
    assert set(env) <= BACKEND_VARIABLES
    assert urlsplit(env["CALENDAR_SERVICE_URL"]).hostname == "api"
    assert urlsplit(env["CALENDAR_SERVICE_URL"]).port == int(environment(services["api"])["PORT"])
    assert env["CALENDAR_API_KEY"] in Settings.from_env(environment(services["api"])).API_KEYS


@pytest.mark.parametrize("name", ["migrate", "api", "worker"])
def test_service_environment_is_what_the_code_reads_and_passes_production_checks(services, name):
    env = environment(services[name])
    assert set(env) <= SERVICE_VARIABLES, set(env) - SERVICE_VARIABLES
    settings = Settings.from_env(env)  # raises ConfigError on anything production refuses
    assert settings.is_production


def test_service_urls_point_at_the_compose_stores_with_their_credentials(services):
    settings = Settings.from_env(environment(services["api"]))
    database = urlsplit(settings.DATABASE_URL)
    postgres = environment(services["postgres"])
    assert (database.hostname, database.username, database.password, database.path) == (
        "postgres", postgres["POSTGRES_USER"], postgres["POSTGRES_PASSWORD"], "/" + postgres["POSTGRES_DB"])
    assert urlsplit(settings.REDIS_URL).hostname == "redis"
    broker = urlsplit(settings.RABBITMQ_URL)
    rabbit = environment(services["rabbitmq"])
    assert (broker.hostname, broker.username, broker.password) == (
        "rabbitmq", rabbit["RABBITMQ_DEFAULT_USER"], rabbit["RABBITMQ_DEFAULT_PASS"])


def test_database_connections_fit_under_postgres_default_max_connections(services):
    def processes(name: str) -> int:
        replicas = services[name].get("deploy", {}).get("replicas", 1)
        per_replica = int(environment(services[name]).get("WEB_CONCURRENCY", 1))
        return replicas * per_replica

    settings = Settings.from_env(environment(services["api"]))
    per_process = settings.DB_POOL_SIZE + settings.DB_MAX_OVERFLOW
    assert (processes("api") + services["worker"]["deploy"]["replicas"]) * per_process < 100
