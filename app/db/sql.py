"""SQL files of the app package, loaded by migrations and compared with the database by tests.

A file holds `CREATE OR REPLACE FUNCTION` statements, each with its body
between `$$` quotes; `functions()` reads them back as {name: body}, which is
exactly what PostgreSQL keeps in `pg_proc.prosrc`.
"""
from __future__ import annotations

import re
from importlib import resources

_FUNCTION = re.compile(r"CREATE OR REPLACE FUNCTION\s+([\w.]+)\s*\(.*?\$\$(.*?)\$\$;", re.S)


def read(package: str, name: str) -> str:
    """The text of SQL file `name` in `package` (e.g. "app.services", "hold_slot.sql")."""
    return resources.files(package).joinpath(name).read_text(encoding="utf-8")


def functions(text: str) -> dict[str, str]:
    """{qualified name: body} of every function the SQL text creates."""
    return {name: body for name, body in _FUNCTION.findall(text)}


def load(connection, package: str, name: str) -> None:
    """Run SQL file `name` on `connection` (a migration's), as one driver-level script.

    A file is its latest version, loaded by the migration that introduced it and
    by every later one that changed it, so an early migration may meet a body
    that names a column a later one adds: bodies are not checked while loading
    (they are by the suite, which runs them against the head revision).
    """
    connection.exec_driver_sql("SET LOCAL check_function_bodies = off")
    connection.exec_driver_sql(read(package, name))
