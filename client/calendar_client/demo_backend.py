"""A stand-in for the platform's main backend: the calendar proxy and nothing else.

Run by `scripts/backend`. It shows the one line a real backend needs
(`register_blueprint(create_calendar_proxy())`) and lets the front end or a
person with curl talk to the Calendar service through `/api/calendar/...`.
Settings come from the environment: BACKEND_PORT (8001),
CALENDAR_SERVICE_URL (http://localhost:8002), CALENDAR_API_KEY.
"""
from __future__ import annotations

import logging
import os

from flask import Flask, jsonify

from calendar_client.client import CalendarClient
from calendar_client.proxy import create_calendar_proxy, proxy_client


def create_app(client: CalendarClient | None = None) -> Flask:
    """The demo backend; `client` defaults to the proxy's, built from the environment."""
    app = Flask(__name__)
    app.register_blueprint(create_calendar_proxy(client))

    @app.get("/")
    def index():
        """What this server is, for whoever opens it in a browser."""
        return jsonify({"service": "itadias-demo-backend",
                        "calendar": "/api/calendar/health"})

    return app


def main() -> None:
    """Serve the demo backend on 0.0.0.0:BACKEND_PORT with threads."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    port = int(os.environ.get("BACKEND_PORT", "8001"))
    client = proxy_client()  # the proxy's timeouts: a browser waits ~9 s at worst, not 21 s
    logging.getLogger(__name__).info("demo backend on :%d -> %s", port, client.base_url)
    create_app(client).run(host="0.0.0.0", port=port, threaded=True)


if __name__ == "__main__":
    main()
