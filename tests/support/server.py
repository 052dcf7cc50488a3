"""Run the service under gunicorn in a subprocess, on a free port."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen
    log_path: Path
    metrics_dir: Path | None = None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def paused(pid: int):
    """SIGSTOP a process and its children (a gunicorn master and its workers); SIGCONT after.

    Stopping only the master would leave the workers answering.
    """
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    pids = [pid, *map(int, children)]
    for each in pids:
        os.kill(each, signal.SIGSTOP)
    try:
        yield pids
    finally:
        for each in pids:
            os.kill(each, signal.SIGCONT)


def start_gunicorn(env: dict[str, str], log_dir: Path, workers: int = 2, threads: int = 8) -> Server:
    """Start `gunicorn wsgi:app` with `env` on top of ours; wait until /health answers."""
    port = free_port()
    log_path = log_dir / f"gunicorn-{port}.log"
    metrics_dir = log_dir / f"metrics-{port}"  # Prometheus multiprocess files of this server
    full_env = {**os.environ, **env, "PORT": str(port), "HOST": "127.0.0.1",
                "WEB_CONCURRENCY": str(workers), "GUNICORN_THREADS": str(threads),
                "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "wsgi:app"],
        cwd=ROOT, env=full_env, stdout=log_path.open("wb"), stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", process, log_path, metrics_dir)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited early:\n{server.log()}")
        try:
            if requests.get(server.base_url + "/health", timeout=1).status_code in (200, 503):
                return server
        except requests.RequestException:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"gunicorn did not answer within 30 s:\n{server.log()}")


def start_worker(env: dict[str, str], log_dir: Path, name: str = "worker",
                 listen: bool = True) -> Server:
    """Start `flask --app wsgi worker` (a separate process, as in production)."""
    log_path = log_dir / f"{name}-{free_port()}.log"
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "worker"]
    process = subprocess.Popen(command if listen else [*command, "--no-listener"],
                               cwd=ROOT, env={**os.environ, **env},
                               stdout=log_path.open("wb"), stderr=subprocess.STDOUT)
    server = Server("", process, log_path)
    deadline = time.monotonic() + 20
    while "worker started" not in server.log():
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"worker did not start:\n{server.log()}")
        time.sleep(0.1)
    return server
