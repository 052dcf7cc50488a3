"""scripts/run's front door: a taken port refused in one line, one banner, each startup warning once."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

import pytest

from tests.support.stack import ROOT, SUITE, free_port
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e
RUN = ROOT / "scripts" / "run"
DEMO_HUB_ID = "550e8400-e29b-41d4-a716-446655440000"


def test_run_refuses_a_taken_port_in_one_line_before_anything_else():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "PORT": str(port), "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
        env.pop("CALENDAR_EMBEDDED_PG", None)
        started = time.monotonic()
        result = subprocess.run([str(RUN)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()  # nothing installed, started or migrated before it
    assert f"port {port} is already in use" in line
    suggested = int(line.rsplit("PORT=", 1)[1].split()[0])
    assert suggested != port and line.endswith(f"PORT={suggested} {RUN}")
    assert time.monotonic() - started < 10


def test_run_prints_one_banner_and_each_startup_warning_once(pg_url, tmp_path):
    port = free_port()
    # As scripts/run's second pass runs (CALENDAR_EMBEDDED_PG: no install), on this run's database;
    # its defaults (worker in process, text logs) where the suite's settings leave a value empty.
    env = {**os.environ, **SUITE.env(), "PORT": str(port), "HOST": "127.0.0.1", "CALENDAR_EMBEDDED_PG": "1",
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    stderr_path = tmp_path / "run.err"
    with stderr_path.open("wb") as stderr, (tmp_path / "run.out").open("wb") as stdout:
        process = subprocess.Popen([str(RUN)], cwd=ROOT, env=env, stdout=stdout, stderr=stderr,
                                   start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while "ITADIAS Calendar service is ready" not in stderr_path.read_text(errors="replace"):
            assert process.poll() is None and time.monotonic() < deadline, stderr_path.read_text()
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)  # scripts/run became gunicorn: it stops its workers
        process.wait(timeout=30)
    # The console writes gunicorn's lines after gunicorn is gone, its last one last.
    wait_for(lambda: "Shutting down: Master" in stderr_path.read_text(errors="replace"), timeout=5)
    log = stderr_path.read_text(errors="replace")
    # flask db upgrade, flask seed-demo and both gunicorn workers each logged it as they started.
    assert log.count("no API_KEYS/ADMIN_API_KEYS set") == 1, log
    assert log.count("ITADIAS Calendar service is ready") == 1
    url = f"http://localhost:{port}"  # what a newcomer opens, whichever loopback HOST names
    for line in (f"service    {url}", f"API docs   {url}/api/docs", f"health     {url}/health",
                 f"demo hub   {DEMO_HUB_ID}", "API keys   off", f"try it     scripts/demo {url}"):
        assert line in log, (line, log)
    assert "Traceback" not in log
    assert "Shutting down: Master" in log  # what gunicorn says after the console's SIGTERM too
