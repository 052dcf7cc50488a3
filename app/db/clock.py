"""The one clock that lock decisions trust: the database's.

`statement_timestamp()`, unlike `now()`, is not frozen at the start of a
transaction that an earlier read may have opened. API processes and workers
on different hosts read the same clock, so they agree on when a hold has run
out.
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session


def db_now(session: Session) -> datetime:
    """The database's now, timezone-aware UTC (one round trip)."""
    return session.execute(select(func.statement_timestamp())).scalar_one().astimezone(timezone.utc)


def sql_now():
    """The database's now as an SQL expression, read inside the statement that uses it."""
    return func.statement_timestamp()
