"""`flask close-hub`: the closure endpoint's work from the command line, said in a few lines."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from app.extensions import db
from app.models import Booking, HubClosure, Slot, WaitlistEntry
from app.services.bookings import confirm_booking
from tests.support.factories import hold, make_hub, make_slots


def invoke(app, *args: str):
    return app.test_cli_runner().invoke(args=["close-hub", *args])


def test_closing_whole_local_days_withdraws_them_and_prints_what_it_did(app):
    with app.app_context():
        hub = make_hub()
        tz = ZoneInfo(hub.timezone)
        day = datetime.now(tz).date() + timedelta(days=3)
        noon = datetime.combine(day, datetime.min.time(), tz) + timedelta(hours=12)
        inside = make_slots(hub, 2, start=noon)
        [next_day] = make_slots(hub, 1, start=noon + timedelta(days=1))
        booking = hold(inside[0])
        confirm_booking(booking.id)
    result = invoke(app, hub.code.lower(), "--from", day.isoformat(), "--to", day.isoformat(),
                    "--reason", "Examiner ill")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    with app.app_context():
        closure = db.session.scalar(select(HubClosure))
        entry = db.session.scalar(select(WaitlistEntry))
        statuses = {s.id: s.status for s in db.session.scalars(select(Slot))}
        assert (closure.starts_at, closure.ends_at) == (
            datetime.combine(day, datetime.min.time(), tz), datetime.combine(day + timedelta(days=1),
                                                                             datetime.min.time(), tz))
        assert db.session.get(Booking, booking.id, populate_existing=True).cancel_reason == "hub_closed"
    assert lines[0].startswith(f"closed {hub.code} from ") and lines[0].endswith(f"closure {closure.id}")
    assert lines[1:] == ["slots withdrawn: 2", f"bookings cancelled: 1 {booking.id}",
                         f"waitlist entries: 1 {entry.id}"]
    assert [statuses[s.id] for s in inside] == ["withdrawn"] * 2
    assert statuses[next_day.id] == "locked"  # offered at once to the rebooked candidate


def test_no_rebook_and_times_with_offsets(app):
    with app.app_context():
        hub = make_hub()
        [slot] = make_slots(hub, 1)
        booking = hold(slot)
        confirm_booking(booking.id)
    start, end = slot.starts_at.isoformat(), slot.ends_at.isoformat()
    result = invoke(app, str(hub.id), "--from", start, "--to", end, "--reason", "Snow", "--no-rebook")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1:] == ["slots withdrawn: 1", f"bookings cancelled: 1 {booking.id}",
                                              "waitlist entries: 0"]
    with app.app_context():
        assert db.session.scalar(select(WaitlistEntry)) is None


def test_a_date_in_iso_basic_form_is_a_whole_day_too(app):
    with app.app_context():
        hub = make_hub()
        tz = ZoneInfo(hub.timezone)
        day = datetime.now(tz).date() + timedelta(days=3)
    result = invoke(app, hub.code, "--from", day.strftime("%Y%m%d"), "--to", day.strftime("%Y%m%d"),
                    "--reason", "Snow")
    assert result.exit_code == 0, result.output
    with app.app_context():
        closure = db.session.scalar(select(HubClosure))
        midnight = datetime.combine(day, datetime.min.time(), tz)
        assert (closure.starts_at, closure.ends_at) == (midnight, midnight + timedelta(days=1))


def test_errors_are_one_line(app):
    with app.app_context():
        hub = make_hub()
    cases = [
        (("NOPE", "--from", "2030-01-01", "--to", "2030-01-02"), "hub 'NOPE' not found"),
        ((hub.code, "--from", "2030-01-01", "--to", "2030-03-01"),
         "the closure's window is invalid; ends_at: The window may span at most 31 days"),
        ((hub.code, "--from", "tomorrow", "--to", "2030-01-02"),
         "--from: 'tomorrow': expected YYYY-MM-DD or YYYY-MM-DDTHH:MM[+HH:MM]"),
        ((hub.code, "--from", "2030-01-01", "--to", "9999-12-31"), "--to: '9999-12-31' is out of range"),
        ((hub.code, "--from", "2030-01-01T00:00", "--to", "9999-12-31T12:00"),
         "--to: Must be between"),
    ]
    for args, expected in cases:
        result = invoke(app, *args, "--reason", "Snow")
        assert result.exit_code == 1, result.output
        assert result.output.startswith(f"Error: {expected}") and len(result.output.splitlines()) == 1, (
            result.output)
    empty = invoke(app, hub.code, "--from", "2030-01-01", "--to", "2030-01-02", "--reason", "")
    assert empty.exit_code == 1 and empty.output.startswith("Error: --reason: ")
    assert len(empty.output.splitlines()) == 1
