"""GET /api/v1/bookings?candidate_id=: a candidate's bookings, newest first, a page at a time."""
from __future__ import annotations

import base64
import uuid

import pytest
from sqlalchemy import text

from app.extensions import db
from app.services.bookings import cancel_booking, confirm_booking
from tests.conftest import ADMIN_KEY, API_KEY
from tests.support.factories import hold, make_hub, make_slots
from tests.support.http import assert_error
from tests.support.overdue import make_overdue

CLIENT = {"Authorization": f"Bearer {API_KEY}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture
def slots(app):
    with app.app_context():
        return make_slots(make_hub(), 30, minutes=15)


@pytest.fixture
def candidate() -> uuid.UUID:
    return uuid.uuid4()


def book(app, slot, candidate, then: str | None = "confirm") -> str:
    """The candidate's booking of `slot`, confirmed (or cancelled, or left pending); its id."""
    with app.app_context():
        booking = hold(slot, candidate)
        if then == "confirm":
            confirm_booking(booking.id)
        elif then == "cancel":
            cancel_booking(booking.id)
        return str(booking.id)


def page(client, candidate, **params) -> dict:
    query = "&".join(f"{k}={v}" for k, v in {"candidate_id": candidate, **params}.items())
    response = client.get(f"/api/v1/bookings?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def walk(client, candidate, between=None, **params) -> list[str]:
    """Every page's booking ids, following next_cursor; `between()` runs between pages."""
    ids, cursor = [], None
    while True:
        body = page(client, candidate, **params, **({"cursor": cursor} if cursor else {}))
        ids += [b["id"] for b in body["bookings"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return ids
        if between is not None:
            between()


def test_newest_first_active_by_default_every_status_with_all(app, client, slots, candidate):
    confirmed = book(app, slots[0], candidate)
    cancelled = book(app, slots[1], candidate, then="cancel")
    later = book(app, slots[2], candidate)
    pending = book(app, slots[3], candidate, then=None)
    book(app, slots[4], uuid.uuid4())  # someone else's
    body = page(client, candidate)
    assert set(body) == {"bookings", "next_cursor"} and body["next_cursor"] is None
    assert [b["id"] for b in body["bookings"]] == [pending, later, confirmed]
    alone = [client.get(f"/api/v1/bookings/{b['id']}").get_json() for b in body["bookings"]]
    assert body["bookings"] == [{k: v for k, v in b.items() if k != "contact_email"} for b in alone]
    every = page(client, candidate, status="all")
    assert [b["id"] for b in every["bookings"]] == [pending, later, cancelled, confirmed]
    assert [b["status"] for b in every["bookings"]] == ["pending", "confirmed", "cancelled", "confirmed"]
    assert page(client, uuid.uuid4()) == {"bookings": [], "next_cursor": None}


def test_no_email_is_in_the_answer(app, client, slots, candidate):
    """The day sheet is the only answer that shows emails to anyone but the booking's own reader."""
    with app.app_context():
        confirm_booking(hold(slots[0], candidate, email="ana.private@example.com").id)
        cancel_booking(hold(slots[1], candidate, email="ana.private@example.com").id)
    for query in ("", "&status=all", "&limit=1"):
        response = client.get(f"/api/v1/bookings?candidate_id={candidate}{query}")
        assert response.status_code == 200 and response.get_json()["bookings"]
        assert "@" not in response.get_data(as_text=True)
        assert all("contact_email" not in b for b in response.get_json()["bookings"])
    spec = client.get("/api/openapi.json").get_json()["components"]["schemas"]
    assert "contact_email" not in spec["CandidateBooking"]["properties"]
    listed = spec["BookingPage"]["properties"]["bookings"]["items"]
    assert listed == {"$ref": "#/components/schemas/CandidateBooking"}


def test_a_hold_that_ran_out_is_expired_not_pending(app, client, slots, candidate):
    confirmed = book(app, slots[0], candidate)
    lapsed = book(app, slots[1], candidate, then=None)
    with app.app_context():  # the hold's time is up; nothing has ended it yet
        make_overdue(lapsed)
    assert [b["id"] for b in page(client, candidate)["bookings"]] == [confirmed]
    every = page(client, candidate, status="all")["bookings"]
    assert [(b["id"], b["status"]) for b in every] == [(lapsed, "expired"), (confirmed, "confirmed")]
    assert client.get(f"/api/v1/bookings/{lapsed}").get_json()["status"] == "expired"


def test_pages_walk_every_booking_once_while_new_ones_arrive(app, client, slots, candidate):
    made = [book(app, slot, candidate) for slot in slots[:7]]
    arriving = iter(slots[7:])
    arrived = []
    ids = walk(client, candidate, limit=3,
               between=lambda: arrived.append(book(app, next(arriving), candidate)))
    assert ids == made[::-1]  # no repeat, no gap: what arrived meanwhile is newer than every page
    assert len(arrived) == 2
    assert walk(client, candidate, limit=3) == (made + arrived)[::-1]
    first = page(client, candidate)
    assert len(first["bookings"]) == 9 and first["next_cursor"] is None  # limit 20 by default


def test_bookings_made_at_the_same_instant_are_paged_by_id(app, client, slots, candidate):
    made = [book(app, slot, candidate) for slot in slots[:5]]
    with app.app_context():  # as if made in one transaction: created_at ties, the id decides
        db.session.execute(text("UPDATE calendar.bookings SET created_at = '2026-01-01T00:00:00Z'"
                                " WHERE candidate_id = :c"), {"c": str(candidate)})
        db.session.commit()
    ids = walk(client, candidate, limit=2)
    assert ids == sorted(made, key=uuid.UUID, reverse=True)


def test_the_default_page_is_20_and_100_is_the_most(app, client, slots, candidate):
    made = [book(app, slot, candidate) for slot in slots[:21]]
    first = page(client, candidate)
    assert [b["id"] for b in first["bookings"]] == made[:-21:-1]
    rest = page(client, candidate, cursor=first["next_cursor"])
    assert [b["id"] for b in rest["bookings"]] == [made[0]] and rest["next_cursor"] is None
    assert len(page(client, candidate, limit=100)["bookings"]) == 21


def _cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize("query, field", [
    ("", "candidate_id"),
    ("?candidate_id=", "candidate_id"),
    ("?candidate_id=not-a-uuid", "candidate_id"),
    ("?candidate_id={c}&status=cancelled", "status"),
    ("?candidate_id={c}&status=", "status"),
    ("?candidate_id={c}&limit=0", "limit"),
    ("?candidate_id={c}&limit=101", "limit"),
    ("?candidate_id={c}&limit=ten", "limit"),
    ("?candidate_id={c}&cursor=!!!", "cursor"),
    ("?candidate_id={c}&cursor=", "cursor"),
    ("?candidate_id={c}&cursor=" + _cursor("yesterday|" + str(uuid.UUID(int=1))), "cursor"),
    ("?candidate_id={c}&cursor=" + _cursor("2026-01-01T00:00:00|" + str(uuid.UUID(int=1))), "cursor"),
    ("?candidate_id={c}&cursor=" + _cursor("0001-01-01T00:00:00+14:00|" + str(uuid.UUID(int=1))), "cursor"),
    ("?candidate_id={c}&cursor=" + _cursor("2026-01-01T00:00:00+00:00|nope"), "cursor"),
    ("?candidate_id={c}&cursor=" + _cursor("2026-01-01T00:00:00+00:00"), "cursor"),
    ("?candidate_id={c}&cursor=" + "A" * 400, "cursor"),
    ("?candidate_id={c}&cursor=" + base64.urlsafe_b64encode(b"\xff\xfe|").decode(), "cursor"),
])
def test_a_bad_query_is_422_naming_the_field(client, query, field):
    response = client.get("/api/v1/bookings" + query.format(c=uuid.uuid4()))
    assert set(assert_error(response, 422)["errors"]["query"]) == {field}


def test_a_cursor_from_another_page_reads_on_from_there(app, client, slots, candidate):
    made = [book(app, slot, candidate) for slot in slots[:4]]
    cursor = page(client, candidate, limit=1)["next_cursor"]
    assert [b["id"] for b in page(client, candidate, cursor=cursor)["bookings"]] == made[-2::-1]
    other = uuid.uuid4()  # a cursor only says where; it reads the candidate it is given
    assert page(client, other, cursor=cursor) == {"bookings": [], "next_cursor": None}


def test_a_client_key_is_needed_and_enough(make_app, candidate):
    keyed = make_app(API_KEYS=API_KEY, ADMIN_API_KEYS=ADMIN_KEY).test_client()
    path = f"/api/v1/bookings?candidate_id={candidate}"
    assert_error(keyed.get(path), 401)
    assert_error(keyed.get("/api/v1/bookings?candidate_id=nope"), 401)  # auth before validation
    assert keyed.get(path, headers=CLIENT).status_code == 200
    assert keyed.get(path, headers=ADMIN).status_code == 200
