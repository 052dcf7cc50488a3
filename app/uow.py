"""The unit of work that services, the relay and the worker share, and the clock they trust.

Lock decisions use the database's clock (`statement_timestamp()` on
PostgreSQL: unlike `now()` it is not frozen at the start of a transaction
that an earlier read may have opened), read once per unit of work, so that
API processes and workers on different hosts agree on when a hold has run
out. SQLite (the embedded default) has one host by definition and uses the
process clock.
"""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.extensions import db


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """Commit what the block did, or roll all of it back if it raised."""
    session = db.session
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def db_now(session: Session) -> datetime:
    """The transaction's notion of now, timezone-aware UTC."""
    if is_postgres(session):
        return session.execute(select(func.statement_timestamp())).scalar_one().astimezone(timezone.utc)
    return datetime.now(timezone.utc)
