"""The OpenAPI document: valid, complete about errors and security, and checked in."""
from __future__ import annotations

import json
import re
from pathlib import Path

from openapi_spec_validator import validate

CHECKED_IN = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
HTTP_METHODS = {"get", "put", "post", "delete", "patch"}


def _operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield method.upper(), path, operation


def test_served_spec_passes_openapi_spec_validator(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    validate(response.get_json())


def test_every_operation_documents_its_errors_with_the_error_shape(client):
    spec = client.get("/api/openapi.json").get_json()
    error = spec["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"code", "status", "message"}
    assert {"slot_unavailable", "candidate_hold_limit", "hold_expired", "invalid_state"} <= set(
        error["properties"]["error"]["enum"])
    for method, path, operation in _operations(spec):
        responses = operation["responses"]
        assert "500" in responses, (method, path)
        assert ("503" in responses) != bool(operation.get("x-dependency-free")), (method, path)
        if operation.get("security"):
            assert "401" in responses, (method, path)
        if "{" in path:
            assert "404" in responses, (method, path)
        if "requestBody" in operation:
            assert {"400", "422"} <= set(responses), (method, path)
        for status, response in responses.items():
            probe_says_why = path in ("/health", "/health/ready") and status == "503"  # own body
            if status.startswith(("4", "5")) and not probe_says_why:
                media = response["content"]["application/json"]
                assert media["schema"] == {"$ref": "#/components/schemas/Error"}, (method, path, status)
                assert all(ex["value"]["code"] == int(status) for ex in media["examples"].values())


def test_conflicts_list_the_codes_each_operation_can_answer(client):
    spec = client.get("/api/openapi.json").get_json()
    hold = spec["paths"]["/api/v1/bookings"]["post"]["responses"]["409"]
    confirm = spec["paths"]["/api/v1/bookings/{booking_id}/confirm"]["post"]["responses"]["409"]
    assert set(hold["content"]["application/json"]["examples"]) == {"slot_unavailable",
                                                                   "candidate_hold_limit"}
    assert set(confirm["content"]["application/json"]["examples"]) == {"hold_expired", "invalid_state"}


def test_security_schemes_say_which_key_each_operation_needs(client):
    spec = client.get("/api/openapi.json").get_json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerAuth"]["scheme"] == schemes["adminAuth"]["scheme"] == "bearer"
    operations = {(m, p): op for m, p, op in _operations(spec)}
    assert operations["POST", "/api/v1/bookings"]["security"] == [{"bearerAuth": []}]
    assert operations["POST", "/api/v1/hubs"]["security"] == [{"adminAuth": []}]
    assert "403" in operations["POST", "/api/v1/hubs"]["responses"]
    assert "security" not in operations["GET", "/api/v1/slots"]


def test_request_bodies_carry_examples(client):
    spec = client.get("/api/openapi.json").get_json()
    booking = spec["components"]["schemas"]["BookingCreate"]["properties"]
    assert booking["contact_email"]["example"] == "candidate@example.com"
    assert all("example" in field for field in booking.values())


def test_checked_in_copy_matches_the_served_spec(app, client, tmp_path):
    written = tmp_path / "openapi.json"
    result = app.test_cli_runner().invoke(args=["openapi", "write", str(written)])
    assert result.exit_code == 0, result.output
    served = client.get("/api/openapi.json").get_json()
    assert json.loads(written.read_text()) == served
    assert json.loads(CHECKED_IN.read_text()) == served, (
        "docs/openapi.json is stale: run `flask --app wsgi openapi write docs/openapi.json`")


def test_the_description_explains_the_flow_the_events_the_waitlist_and_the_keys(client):
    description = client.get("/api/openapi.json").get_json()["info"]["description"]
    for said in ("GET /api/v1/slots", "POST /api/v1/bookings", "/confirm", "/cancel", "15 minutes",
                 "hold_expired", "calendar.events", "GET /api/v1/events", "POST /api/v1/waitlist",
                 "Authorization: Bearer", "bearerAuth", "adminAuth", "401", "403"):
        assert said in description, said


def test_the_keys_paragraph_names_every_admin_operation_and_the_candidates_bookings(client):
    spec = client.get("/api/openapi.json").get_json()
    keys = spec["info"]["description"].split("## Keys", 1)[1]
    admin = {(method, re.sub(r"\{\w+\}", "{id}", path)) for method, path, operation in _operations(spec)
             if operation.get("security") == [{"adminAuth": []}]}
    assert len(admin) == 6
    for method, path in admin:
        assert f"`{method} {path}`" in keys, (method, path)
    assert "`GET /api/v1/bookings?candidate_id=`" in keys.split("An admin key", 1)[0]  # a client key's


def test_every_schema_in_the_document_is_used(client):
    spec = client.get("/api/openapi.json").get_json()
    text = json.dumps(spec)
    unused = [name for name in spec["components"]["schemas"]
              if f'"#/components/schemas/{name}"' not in text]
    assert unused == []
    assert "PaginationMetadata" not in spec["components"]["schemas"]


def test_the_root_leads_to_the_api_documentation(client):
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"] == "/api/docs"
    assert client.get("/api/docs").status_code == 200
