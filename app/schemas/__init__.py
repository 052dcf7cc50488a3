"""Request, query and response schemas (marshmallow), shared by API and services."""
from __future__ import annotations

from datetime import date, datetime

from marshmallow import ValidationError

# Far enough for any real booking, near enough that local-day arithmetic in
# any time zone stays inside what datetime and PostgreSQL can represent.
EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)


def printable(value: str) -> None:
    """Refuse control characters (a NUL cannot even be stored in PostgreSQL text)."""
    if not value.isprintable():
        raise ValidationError("Must not contain control characters.")


def within_service_years(value: date | datetime) -> None:
    """Refuse a date, or a datetime's date, outside EARLIEST..LATEST."""
    day = value.date() if isinstance(value, datetime) else value
    if not EARLIEST <= day <= LATEST:
        raise ValidationError(f"Must be between {EARLIEST} and {LATEST}.")
