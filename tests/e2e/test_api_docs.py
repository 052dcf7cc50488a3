"""The API documentation renders from the service alone, in a real browser."""
from __future__ import annotations

import html
import re

import pytest
import requests

from tests.support.browser import rendered_dom

pytestmark = pytest.mark.e2e
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}

_OPERATION = re.compile(
    r'class="opblock-summary-method">(\w+)</span>.*?class="opblock-summary-path" data-path="([^"]+)"',
    re.S)


def test_swagger_ui_renders_every_operation_offline(gunicorn_server):
    base = gunicorn_server.base_url
    spec = requests.get(f"{base}/api/openapi.json", timeout=5).json()
    documented = {(method.upper(), path) for path, item in spec["paths"].items()
                  for method in item if method in HTTP_METHODS}

    page = requests.get(f"{base}/api/docs", timeout=5).text
    assert "http://" not in page and "https://" not in page  # no CDN: every asset is ours

    dom = rendered_dom(f"{base}/api/docs")
    rendered = {(method, html.unescape(path)) for method, path in _OPERATION.findall(dom)}
    assert rendered == documented
    assert len(rendered) >= 10
