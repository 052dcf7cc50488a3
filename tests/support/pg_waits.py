"""Who waits on whom in PostgreSQL, for tests that hold a lock and must know a transaction queued behind it.

A test that blocks a writer on purpose (a row or advisory lock held in a
connection of its own) waits here until that writer's backend is seen
waiting on the test's backend: by pid (`pg_blocking_pids`), so no other
backend of the database, waiting on something else, can stand in for it.
"""
from __future__ import annotations

import psycopg2

from tests.support.waiting import wait_for

_BLOCKED = ("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND %(by)s = ANY(pg_blocking_pids(pid)) AND query ILIKE %(query)s ORDER BY pid")


def blocked_by(dsn: str, by: int, query: str = "", at_least: int = 1, timeout: float = 10) -> list[int]:
    """The pids of the backends waiting on a lock that backend `by` holds, once `at_least` are.

    `query` narrows them to backends whose current statement contains it
    (case-insensitive). Fails the test after `timeout` seconds.
    """
    found: list[int] = []
    watcher = psycopg2.connect(dsn)
    watcher.autocommit = True
    try:
        with watcher.cursor() as cursor:
            def enough() -> bool:
                cursor.execute(_BLOCKED, {"by": by, "query": f"%{query}%"})
                found[:] = [pid for (pid,) in cursor.fetchall()]
                return len(found) >= at_least
            wait_for(enough, timeout=timeout, interval=0.005)
    finally:
        watcher.close()
    return found
