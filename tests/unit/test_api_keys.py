"""Matching a presented API key: exact, against every configured key."""
from __future__ import annotations

import pytest

from app.http.auth import _matches


@pytest.mark.parametrize("presented, expected", [
    (b"k1", True), (b"k2", True), (b"adm", True),
    (b"k", False), (b"ad", False), (b"k1k2", False), (b"k1,k2", False), (b"", False),
])
def test_key_matching_is_exact_against_every_configured_key(presented, expected):
    assert _matches(presented, ("k1", "k2", "adm")) is expected


def test_key_matching_finds_the_last_key_and_refuses_an_empty_list():
    keys = tuple(f"key-{n}" for n in range(50))
    assert _matches(b"key-49", keys) is True
    assert _matches(b"key-", keys) is False and _matches(b"key-490", keys) is False
    assert _matches(b"key-49", ()) is False
