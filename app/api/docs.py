"""Swagger UI's JavaScript and CSS, served by the app from the swagger-ui-bundle package.

`/api/docs` (flask-smorest's page) loads its assets from here, so the API
documentation works on a closed network: nothing comes from a CDN and nothing
is copied into this repository.
"""
from flask import Blueprint, send_from_directory
from swagger_ui_bundle import swagger_ui_path

ASSETS_URL = "/api/docs/assets/"

blp = Blueprint("docs_assets", __name__)


@blp.route(f"{ASSETS_URL}<path:filename>")
def swagger_ui_asset(filename: str):
    """One file of the bundled Swagger UI (cached a day: it changes only with the package)."""
    return send_from_directory(swagger_ui_path, filename, max_age=86400)
