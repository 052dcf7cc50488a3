"""The way into the API documentation: `/` leads to it, and Swagger UI's assets are served here.

`/api/docs` (flask-smorest's page) loads its JavaScript and CSS from the
swagger-ui-bundle package through this blueprint, so the documentation works
on a closed network: nothing comes from a CDN and nothing is copied into this
repository.
"""
from flask import Blueprint, redirect, send_from_directory
from swagger_ui_bundle import swagger_ui_path

DOCS_URL = "/api/docs"
ASSETS_URL = f"{DOCS_URL}/assets/"

blp = Blueprint("docs_assets", __name__)


@blp.route("/")
def root():
    """Someone who opens the service's address lands on its documentation."""
    return redirect(DOCS_URL, code=302)


@blp.route(f"{ASSETS_URL}<path:filename>")
def swagger_ui_asset(filename: str):
    """One file of the bundled Swagger UI (cached a day: it changes only with the package)."""
    return send_from_directory(swagger_ui_path, filename, max_age=86400)
