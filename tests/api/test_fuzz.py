"""Property: whatever a client sends, within or outside the OpenAPI schema, no 5xx.

schemathesis generates requests from our own /api/openapi.json (valid and
invalid bodies, queries, headers) and sends them through the WSGI app, with
the real PostgreSQL and Redis behind it.
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from app.ops.demo import seed_demo


@pytest.fixture
def api_schema(app):
    with app.app_context():
        seed_demo()  # real hubs and slots for the generated requests to hit
    return schemathesis.openapi.from_wsgi("/api/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_no_request_gets_a_server_error(case):
    case.call_and_validate(checks=[not_a_server_error])
