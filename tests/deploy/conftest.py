"""Deployment files are parsed, not run: no container engine is needed for these tests."""
from __future__ import annotations

import re
from pathlib import Path

from app.config import Settings

ROOT = Path(__file__).resolve().parents[2]
_ENV_READ = re.compile(r"""environ(?:\.get\(|\[)\s*["']([A-Z][A-Z0-9_]+)["']""")


def variables_read(*paths: str) -> set[str]:
    """Environment variable names the code under `paths` reads with os.environ."""
    names: set[str] = set()
    for path in paths:
        for source in sorted((ROOT / path).rglob("*.py")) if (ROOT / path).is_dir() else [ROOT / path]:
            names |= set(_ENV_READ.findall(source.read_text()))
    return names


# What the image's service modes read: app/config.py's Settings, and gunicorn.conf.py.
SERVICE_VARIABLES = set(Settings.__dataclass_fields__) | variables_read("app", "gunicorn.conf.py")
BACKEND_VARIABLES = variables_read("client/calendar_client")
