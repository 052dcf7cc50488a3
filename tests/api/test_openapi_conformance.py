"""Property: every answer, to any generated request, is one the OpenAPI document lists.

The same generated requests as test_fuzz, checked the other way round: the
status is documented for that operation and the body matches the documented
schema (the error shape for every error). So "every status each operation
can answer" is tested, not just written.
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.ops.demo import seed_demo
from tests.conftest import ADMIN_KEY


@pytest.fixture(params=["open", "keys"])
def api_schema(request, make_app):
    # Open: requests reach the services (404, 409, 422...); with keys: 401 and 403.
    keys = {"API_KEYS": "client-key", "ADMIN_API_KEYS": ADMIN_KEY} if request.param == "keys" else {}
    app = make_app(**keys)
    with app.app_context():
        seed_demo()
    return schemathesis.openapi.from_wsgi("/api/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_every_answer_is_documented_with_its_shape(case):
    case.call_and_validate(checks=[status_code_conformance, content_type_conformance,
                                   response_schema_conformance])
