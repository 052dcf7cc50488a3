"""Request, query and response schemas (marshmallow), shared by API and services."""
