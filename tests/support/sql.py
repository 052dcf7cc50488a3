"""Watching the SQL an engine runs during a block (statement counts, "no SQL at all" checks)."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from sqlalchemy import event
from sqlalchemy.engine import Engine


@contextmanager
def on_statements(engine: Engine, callback: Callable) -> Iterator[None]:
    """Call `callback(conn, cursor, statement, parameters, context, executemany)` before every
    statement `engine` runs inside the block."""
    event.listen(engine, "before_cursor_execute", callback)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", callback)


@contextmanager
def recorded_statements(engine: Engine) -> Iterator[list[str]]:
    """The text of every statement `engine` runs inside the block, in order."""
    statements: list[str] = []
    with on_statements(engine, lambda *args: statements.append(args[2])):
        yield statements
