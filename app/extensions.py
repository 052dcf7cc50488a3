"""Unbound extension instances, bound to an app by `create_app`.

Nothing here connects to anything: engines and Redis pools connect lazily on
first use, which keeps gunicorn's pre-fork master free of sockets.
"""
from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

SCHEMA = "calendar"

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base: every table lives in the `calendar` schema."""

    metadata = MetaData(schema=SCHEMA, naming_convention=NAMING_CONVENTION)


# Services return the objects they committed; keeping their loaded state saves
# a refresh round trip per attribute read after every commit.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
migrate = Migrate()
api = Api()
