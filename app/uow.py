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
def autocommit_connection() -> Iterator[Connection]:
    """A pooled connection for reads (and single self-contained statements) without BEGIN.

    On PostgreSQL the driver runs in autocommit: each statement is its own
    transaction and no BEGIN/ROLLBACK round trips are paid. The flag is set on
    the driver connection itself rather than through SQLAlchemy's isolation
    level, whose reset at check-in would raise from a connection the server
    dropped; here such a connection is invalidated and the pool replaces it.
    SQLite keeps its usual transaction (its BEGIN is local, not a round trip).
    """
    with db.engine.connect() as connection:
        if connection.dialect.name != "postgresql":
            yield connection
            return
        driver = connection.connection.dbapi_connection
        driver.autocommit = True
        try:
            yield connection
        finally:
            try:
                driver.autocommit = False
            except connection.dialect.loaded_dbapi.Error:
                connection.invalidate()


def sql_now(bind: Connection | Session) -> Any:
    """The database clock as an SQL expression (read in the statement itself).

    SQLite has no server clock: the process clock is bound instead.
    """
    dialect = bind.dialect if isinstance(bind, Connection) else bind.get_bind().dialect
    if dialect.name == "postgresql":
        return func.statement_timestamp()
    return datetime.now(timezone.utc)
