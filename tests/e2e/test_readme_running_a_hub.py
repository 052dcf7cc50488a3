"""The "Running a hub" examples of README.md and client/README.md, run as written against gunicorn.

Shell blocks run under `sh` (dash here: no bashisms) with the test's URL and
keys put in place of the README's; Python blocks run in a fresh interpreter
with CALENDAR_SERVICE_URL and CALENDAR_API_KEY. The storm examples need the
closures (POST /hubs/{id}/closures, DELETE /slots/{id}).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest

from tests.support.stack import ROOT

pytestmark = pytest.mark.e2e
JAMAICA = ZoneInfo("America/Jamaica")


def section(path: str, title: str) -> str:
    text = (ROOT / path).read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def shell_example(live_service, first_line: str) -> subprocess.CompletedProcess:
    """The README's "Running a hub" shell block whose lines include `first_line`, run by sh -eu."""
    [block] = [b for b in code_blocks(section("README.md", "Running a hub"), "sh") if first_line in b]
    script = re.sub(r"^BASE=.*$", f"BASE={live_service.base_url}", block, flags=re.M)
    script = re.sub(r"^KEY=.*$", f"KEY={live_service.api_key}", script, flags=re.M)
    script = re.sub(r"^ADMIN_KEY=.*$", f"ADMIN_KEY={live_service.admin_key}", script, flags=re.M)
    result = subprocess.run(["sh", "-eu", "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def printed_json(result: subprocess.CompletedProcess) -> list:
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith(("{", "["))]


def python_example(live_service, title: str) -> subprocess.CompletedProcess:
    [block] = code_blocks(section("client/README.md", title), "python")
    code = block.replace('api_key="dev-admin-key"', f'api_key="{live_service.admin_key}"')
    env = {**os.environ, "CALENDAR_SERVICE_URL": live_service.base_url,
           "CALENDAR_API_KEY": live_service.api_key}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_the_amend_day_sheet_and_bookings_example_runs_as_written(live_service):
    renamed, locked, sheet, page = printed_json(shell_example(live_service, 'CODE="OCR-'))
    assert renamed["name"] == "Ocho Rios (Main Street)" and renamed["timezone"] == "America/Jamaica"
    assert (locked["code"], locked["error"]) == (409, "timezone_locked")
    [row] = sheet["bookings"]
    assert (row["status"], row["contact_email"], row["lane"]) == ("confirmed", "ana@example.com", 1)
    assert datetime.fromisoformat(row["starts_at"]).astimezone(JAMAICA).time() == time(9)
    [booking] = page["bookings"]
    assert (booking["id"], booking["status"], page["next_cursor"]) == (row["booking_id"], "confirmed", None)


def test_the_storm_example_runs_as_written(live_service):
    closure, listing, withdrawn = printed_json(shell_example(live_service, "Storm warning"))
    assert closure["reason"] == "Storm warning" and closure["slots_withdrawn"] == 6  # 13:00-16:00, 30 min
    starts = [datetime.fromisoformat(s["starts_at"]).astimezone(JAMAICA).time() for s in listing["slots"]]
    assert starts and not [t for t in starts if time(13) <= t < time(16)]
    assert (withdrawn["id"], withdrawn["status"]) == (listing["slots"][0]["id"], "withdrawn")


def test_the_client_readmes_candidate_bookings_example_runs_as_written(live_service):
    assert python_example(live_service, "A candidate's bookings").stdout.strip() == "[]"


def test_the_client_readmes_running_a_hub_example_runs_as_written(live_service):
    printed = python_example(live_service, "Running a hub (admin key)").stdout.split()
    assert printed[0] == "6"  # slots withdrawn, 13:00-16:00
