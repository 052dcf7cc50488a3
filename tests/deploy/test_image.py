"""The Dockerfile, parsed, and its entrypoint, run: one non-root image, three modes."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
import pytest
import requests

from tests.deploy.conftest import ROOT
from tests.support.stack import SUITE, Stack, free_port, paused

ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"


def stages() -> list[list[str]]:
    """The Dockerfile's stages, each a list of instructions (continuation lines joined)."""
    source = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    found: list[list[str]] = []
    for line in source.splitlines():
        line = line.strip()
        if line.startswith("FROM "):
            found.append([])
        if line and not line.startswith("#") and found:
            found[-1].append(line)
    return found


def test_wheels_are_built_in_one_stage_and_the_runtime_is_slim_without_a_compiler():
    build, runtime = stages()
    assert build[0].endswith(" AS build") and "pip wheel" in " ".join(build)
    assert "build-essential" in " ".join(build)
    assert runtime[0].startswith("FROM python:3.11-slim")
    body = " ".join(runtime)
    assert "from=build" in body and "--no-index" in body
    assert not re.search(r"apt-get install|gcc|build-essential", body)


def test_the_runtime_is_not_root_and_checks_liveness():
    runtime = stages()[-1]
    users = [line.split()[1] for line in runtime if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    [healthcheck] = [line for line in runtime if line.startswith("HEALTHCHECK ")]
    assert "/health/live" in healthcheck
    assert 'ENTRYPOINT ["calendar-entrypoint"]' in runtime and 'CMD ["web"]' in runtime


def run_entrypoint(*args: str, env: dict[str, str], **kwargs) -> subprocess.Popen:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return subprocess.Popen(["sh", str(ENTRYPOINT), *args], cwd=ROOT,
                            env={**os.environ, **env, "PATH": path}, **kwargs)


def test_migrate_mode_upgrades_an_empty_database(tmp_path):
    empty = Stack("migrate")
    url = empty.create_database(migrated=False)
    try:
        process = run_entrypoint("migrate", env=empty.env(), stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT)
        output = process.communicate(timeout=60)[0].decode()
        assert process.returncode == 0, output
        connection = psycopg2.connect(url)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT table_name FROM information_schema.tables"
                               " WHERE table_schema = 'calendar'")
                tables = {row[0] for row in cursor}
        finally:
            connection.close()
        assert {"hubs", "slots", "bookings", "outbox_events"} <= tables
    finally:
        empty.drop_database()


def healthcheck_command() -> list[str]:
    """The runtime stage's HEALTHCHECK CMD, as an argv."""
    [line] = [line for line in stages()[-1] if line.startswith("HEALTHCHECK ")]
    return shlex.split(line.partition(" CMD ")[2])


def test_any_other_command_runs_as_given():
    echo = run_entrypoint("echo", "as", "given", env={}, stdout=subprocess.PIPE)
    assert echo.communicate(timeout=10)[0] == b"as given\n"


@pytest.mark.e2e
def test_web_mode_answers_the_probes_and_the_images_healthcheck(pg_url, tmp_path):
    port = free_port()
    env = {**SUITE.env(), "PORT": str(port), "HOST": "127.0.0.1", "WEB_CONCURRENCY": "1"}
    web = run_entrypoint("web", env=env, stdout=(tmp_path / "web.log").open("wb"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                live = requests.get(f"http://127.0.0.1:{port}/health/live", timeout=1)
                break
            except requests.ConnectionError:
                assert web.poll() is None, (tmp_path / "web.log").read_text()
                assert time.monotonic() < deadline, "web mode did not answer within 30 s"
                time.sleep(0.2)
        assert live.status_code == 200  # the k8s probes' paths
        assert requests.get(f"http://127.0.0.1:{port}/health/ready", timeout=5).status_code == 200
        argv = healthcheck_command()
        assert argv[0] == "python"
        check = subprocess.run([sys.executable, *argv[1:]], env={**os.environ, "PORT": str(port)},
                               capture_output=True, timeout=10)
        assert check.returncode == 0, check.stderr
        with paused(web.pid):  # a hung server must fail it
            hung = subprocess.run([sys.executable, *argv[1:]], env={**os.environ, "PORT": str(port)},
                                  capture_output=True, timeout=10)
        assert hung.returncode != 0
    finally:
        web.terminate()
        web.wait(timeout=20)
