"""The dashboard and alert rules in docs/ are valid and use only metrics the service serves."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

DOCS = Path(__file__).resolve().parents[2] / "docs"
ALERTS = DOCS / "prometheus" / "alerts.yml"
DASHBOARD = DOCS / "grafana" / "calendar.json"
_METRIC = re.compile(r"\bcalendar_[a-z0-9_]+")


def _promtool(*args: str) -> subprocess.CompletedProcess:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is not installed (scripts/test installs Debian's prometheus)"
    return subprocess.run([promtool, *args], cwd=ALERTS.parent, capture_output=True, text=True, timeout=60)


def _served_sample_names(client) -> set[str]:
    client.get("/api/v1/hubs")  # so the latency histogram has buckets
    text = client.get("/metrics").get_data(as_text=True)
    return {s.name for family in text_string_to_metric_families(text) for s in family.samples}


def test_alert_rules_pass_promtool_check_and_their_unit_tests():
    checked = _promtool("check", "rules", ALERTS.name)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = _promtool("test", "rules", "alerts_test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_alerts_cover_what_an_operator_must_hear_about():
    rules = yaml.safe_load(ALERTS.read_text())["groups"][0]["rules"]
    assert {rule["alert"] for rule in rules} == {
        "CalendarOutboxStale", "CalendarRelayFailing", "CalendarGateDegraded", "CalendarHigh5xxRate",
        "CalendarHoldLatencyP99", "CalendarListingsAskRedis", "CalendarWaitlistOffersExpiring"}
    assert all(rule["annotations"]["summary"] and rule["labels"]["severity"] for rule in rules)


def test_alerts_and_dashboard_query_only_metrics_the_service_serves(client):
    served = _served_sample_names(client)
    dashboard = json.loads(DASHBOARD.read_text())
    queried = {name for panel in dashboard["panels"] for target in panel["targets"]
               for name in _METRIC.findall(target["expr"])}
    alerted = set(_METRIC.findall(ALERTS.read_text()))
    assert queried - served == set()
    assert alerted - served == set()
    assert len(queried) >= 10
