"""Connections PostgreSQL closed (as in a restart) never reach a request, nor spoil its answer."""
from __future__ import annotations

import psycopg2
from sqlalchemy import create_engine, text

from app.db.engine import discard_closed_connections
from app.extensions import db


def terminate(pg_url: str, pid: int) -> None:
    """What a server shutdown does to one backend: a FATAL notice, then the socket closes.

    Returns once the backend has exited (pg_terminate_backend's timeout waits for it)."""
    with psycopg2.connect(pg_url) as admin, admin.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
        assert cur.fetchone()[0], "the backend did not exit within 5 s"


def test_a_pooled_connection_the_server_closed_is_replaced_at_checkout(pg_url):
    engine = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg2://"),
                           pool_size=1, pool_pre_ping=False)  # the poll alone must catch it
    discard_closed_connections(engine)
    try:
        with engine.connect() as conn:
            first = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        terminate(pg_url, first)
        with engine.connect() as conn:
            second = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        assert second != first
    finally:
        engine.dispose()


def test_a_connection_closed_after_the_last_statement_keeps_the_answer(make_app, pg_url):
    app = make_app()

    @app.get("/read-then-lose-the-connection")
    def read_then_lose_the_connection():
        pid = db.session.execute(text("SELECT pg_backend_pid()")).scalar()  # opens a transaction
        terminate(pg_url, pid)
        return {"pid": pid}

    response = app.test_client().get("/read-then-lose-the-connection")

    assert response.status_code == 200 and "pid" in response.get_json()
    with app.app_context():
        assert db.session.execute(text("SELECT 1")).scalar() == 1  # the pool recovered
