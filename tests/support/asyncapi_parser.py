"""The official AsyncAPI parser (@asyncapi/parser from npm), run by Node on a document.

The parser is installed on first use into `.cache/node` (git-ignored) with
`npm install --prefix`, at a pinned version, under a file lock so parallel
runs in one tree install it once. When Node or npm is missing or the install
fails, the test fails under CI=true and is skipped, saying why, elsewhere.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import NoReturn

import pytest

REPO = Path(__file__).resolve().parents[2]
NODE_CACHE = REPO / ".cache" / "node"
PARSER_VERSION = "3.6.6"
SCRIPT = Path(__file__).with_name("asyncapi_parse.cjs")
INSTALL_TIMEOUT_SECONDS = 300


def _unavailable(reason: str) -> NoReturn:
    message = f"the AsyncAPI parser is unavailable: {reason}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def _installed_version() -> str | None:
    manifest = NODE_CACHE / "node_modules" / "@asyncapi" / "parser" / "package.json"
    try:
        return json.loads(manifest.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def ensure_parser() -> Path:
    """The node_modules folder holding @asyncapi/parser at PARSER_VERSION, installed if need be."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            _unavailable(f"`{tool}` is not on PATH")
    NODE_CACHE.mkdir(parents=True, exist_ok=True)
    with open(NODE_CACHE / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _installed_version() != PARSER_VERSION:
            try:
                done = subprocess.run(
                    ["npm", "install", "--prefix", str(NODE_CACHE), "--no-audit", "--no-fund",
                     "--loglevel=error", f"@asyncapi/parser@{PARSER_VERSION}"],
                    capture_output=True, text=True, timeout=INSTALL_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                _unavailable(f"npm install took over {INSTALL_TIMEOUT_SECONDS} s")
            if done.returncode != 0 or _installed_version() != PARSER_VERSION:
                _unavailable(f"npm install failed ({done.returncode}): {done.stderr[-2000:]}")
    return NODE_CACHE / "node_modules"


def parse(document: str) -> dict:
    """{"parsed": bool, "diagnostics": [{"severity", "code", "message", "path"}]} for `document`.

    Severity 0 is an error (the document breaks the AsyncAPI schema or a rule),
    1 a warning, 2 information, 3 a hint.
    """
    modules = ensure_parser()
    done = subprocess.run(["node", str(SCRIPT)], input=document, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "NODE_PATH": str(modules)})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def errors(result: dict) -> list[str]:
    """The error diagnostics of a `parse` result, as `path: message` lines."""
    return [f"{d['path'] or '(document)'}: {d['message']}" for d in result["diagnostics"]
            if d["severity"] == 0]
