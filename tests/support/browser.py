"""Headless Chromium (Debian's `chromium`): load a page, run its scripts, return the DOM."""
from __future__ import annotations

import shutil
import subprocess
import tempfile

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-quic")


def rendered_dom(url: str, budget_ms: int = 15000) -> str:
    """The DOM of `url` after its scripts ran for `budget_ms` of virtual time.

    Every host but 127.0.0.1 resolves to nothing, so a page that needs the
    internet (a CDN) renders empty here, as it would on a closed network.
    """
    chromium = shutil.which("chromium")
    assert chromium, "chromium is not installed (scripts/test installs Debian's chromium)"
    with tempfile.TemporaryDirectory(prefix="calendar-chromium-") as profile:
        done = subprocess.run(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
             "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
             f"--virtual-time-budget={budget_ms}", "--dump-dom", url],
            capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout
