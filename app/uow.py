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
from typing import Any, Iterator

from sqlalchemy import func, select
from sqlalchemy.engine import Connection
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


@contextmanager
def read_only() -> Iterator[Connection]:
    """A pooled connection for reads that need no transaction.

    On PostgreSQL it runs in autocommit: each statement is its own snapshot
    and no BEGIN/ROLLBACK round trips are paid. SQLite keeps its usual
    transaction (its BEGIN is local, not a round trip).
    """
    with db.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        yield connection


def sql_now(bind: Connection | Session) -> Any:
    """The database clock as an SQL expression (read in the statement itself).

    SQLite has no server clock: the process clock is bound instead.
    """
    dialect = bind.dialect if isinstance(bind, Connection) else bind.get_bind().dialect
    if dialect.name == "postgresql":
        return func.statement_timestamp()
    return datetime.now(timezone.utc)
