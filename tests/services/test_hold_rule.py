"""The hold rule exists once: app/services/hold_slot.sql, installed by the migrations.

The functions in the database must be exactly those of the file; a migration
that changes the file and forgets to load it (or an edit made in the database
by hand) fails here. The rule's cases (cap, inactive hub, started slot, lazy
expiry, fencing) are proven in test_holds.py and test_fencing_and_lazy_expiry.py
through `hold_slot`, which is one call of this function; the replay is here.
"""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select, text

from app.db import sql
from app.errors import IdempotencyMismatch
from app.extensions import db
from app.models import Booking
from app.services import idempotency
from app.services.holds import HoldRequest, hold_slot
from tests.support.factories import make_hub, make_slots

RULE = sql.functions(sql.read("app.services", "hold_slot.sql"))


def test_the_file_defines_the_hold_rule_and_its_renderings():
    assert set(RULE) == {"calendar.iso_utc", "calendar.booking_event_data", "calendar.booking_body",
                         "calendar.request_tag", "calendar.hold_slot"}


@pytest.mark.parametrize("name", sorted(RULE))
def test_the_function_in_the_database_is_the_one_in_the_file(ctx, name):
    installed = db.session.scalars(
        text("SELECT p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
             "WHERE n.nspname = 'calendar' AND p.proname = :name"), {"name": name.split(".")[1]}).all()
    assert installed == [RULE[name]]  # one overload, its body verbatim


def test_the_drift_check_sees_a_changed_function(ctx):
    # What the check compares with moves when the database's copy is edited.
    db.session.execute(text("CREATE OR REPLACE FUNCTION calendar.iso_utc(ts timestamptz) RETURNS text "
                            "LANGUAGE sql IMMUTABLE AS $$ SELECT 'edited' $$"))
    installed = db.session.scalar(text("SELECT prosrc FROM pg_proc WHERE proname = 'iso_utc'"))
    db.session.rollback()  # DDL is transactional: the migrated function is back
    assert installed != RULE["calendar.iso_utc"]
    assert db.session.scalar(text("SELECT prosrc FROM pg_proc WHERE proname = 'iso_utc'")) == \
        RULE["calendar.iso_utc"]


def test_a_replayed_key_answers_the_first_hold_and_changes_nothing(ctx):
    slot = make_slots(make_hub(), 1)[0]
    request = HoldRequest(slot.id, uuid.uuid4(), "c@example.com")
    call = idempotency.IdempotentCall.build("client", "k-1", "POST", "/api/v1/bookings", {"n": 1})
    first = hold_slot(request, call)
    with pytest.raises(idempotency.IdempotentReplay) as replay:
        hold_slot(request, call)
    assert (replay.value.status, replay.value.body) == (201, first)
    other = idempotency.IdempotentCall.build("client", "k-1", "POST", "/api/v1/bookings", {"n": 2})
    with pytest.raises(IdempotencyMismatch):
        hold_slot(request, other)
    assert db.session.scalar(select(db.func.count()).select_from(Booking)) == 1
