"""The events contract (docs/asyncapi.yaml) as a validator for what the suite receives."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator

ASYNCAPI = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.yaml"


@lru_cache(maxsize=1)
def asyncapi() -> dict:
    return yaml.safe_load(ASYNCAPI.read_text())


@lru_cache(maxsize=None)
def _validator(message: str) -> Draft202012Validator:
    # The message's payload, resolved against the whole document so its local $refs work.
    schema = {"$ref": f"#/components/messages/{message}/payload", "components": asyncapi()["components"]}
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def contract_errors(routing_key: str, body: dict) -> list[str]:
    """Why `body`, received on `routing_key`, breaks the contract ([] when it keeps it)."""
    channel = asyncapi()["channels"].get(routing_key)
    if channel is None:
        return [f"routing key {routing_key!r} is not a channel of docs/asyncapi.yaml"]
    message = channel["subscribe"]["message"]["$ref"].rsplit("/", 1)[-1]
    return [f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}"
            for e in _validator(message).iter_errors(body)]


def assert_keeps_contract(routing_key: str, body: dict) -> None:
    errors = contract_errors(routing_key, body)
    assert not errors, f"event on {routing_key} breaks docs/asyncapi.yaml: {errors}"
