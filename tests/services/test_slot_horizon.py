"""The slot horizon: scheduled hubs' slots published days ahead, each day once; no slot in the past."""
from __future__ import annotations

import threading
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select, update

from app.db import locks
from app.extensions import db
from app.models import ScheduleDay, Slot
from app.ops.slot_horizon import HorizonRound, publish_horizon
from app.services.schedule import generate_slots
from tests.support.factories import make_hub

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# 23 one-hour slots a day, 00:00 to 23:00 local; America/Jamaica keeps no DST.
ALL_DAY = {"slot_minutes": 60, "examiners": 1, "weekly": {d: [["00:00", "23:59"]] for d in WEEKDAYS}}
TZ = ZoneInfo("America/Jamaica")


def local_days(hub, tz: ZoneInfo = TZ) -> Counter:
    """How many slots the hub has on each local day."""
    db.session.expire_all()
    return Counter(s.astimezone(tz).date() for s in
                   db.session.scalars(select(Slot.starts_at).where(Slot.hub_id == hub.id)))


def published_days(hub) -> list[date]:
    return sorted(db.session.scalars(select(ScheduleDay.day).where(ScheduleDay.hub_id == hub.id)))


def slot_at(hub, day: date, hour: int):
    start = datetime(day.year, day.month, day.day, hour, tzinfo=TZ)
    return db.session.scalar(select(Slot).where(Slot.hub_id == hub.id, Slot.starts_at == start))


def test_a_new_scheduled_hub_gets_its_horizon_in_one_round_and_a_second_round_creates_nothing(ctx):
    hub = make_hub(schedule=ALL_DAY)
    first = publish_horizon(5)
    today = datetime.now(TZ).date()
    days = local_days(hub)
    assert first.days == 5 and first.slots == sum(days.values())
    assert sorted(days) in ([today + timedelta(d) for d in range(5)],
                            [today + timedelta(d) for d in range(1, 5)])  # late evening: none left today
    assert all(days[today + timedelta(d)] == 23 for d in range(1, 5))
    assert published_days(hub) == [today + timedelta(d) for d in range(5)]
    assert publish_horizon(5) == HorizonRound(days=0, slots=0)
    assert local_days(hub) == days


def test_a_slot_an_admin_removed_or_moved_is_never_recreated(ctx):
    hub = make_hub(schedule=ALL_DAY)
    publish_horizon(3)
    tomorrow = datetime.now(TZ).date() + timedelta(days=1)
    removed, moved = slot_at(hub, tomorrow, 9), slot_at(hub, tomorrow, 10)
    db.session.execute(delete(Slot).where(Slot.id == removed.id))
    db.session.execute(update(Slot).where(Slot.id == moved.id).values(
        starts_at=moved.starts_at + timedelta(hours=13, minutes=10),
        ends_at=moved.ends_at + timedelta(hours=12, minutes=50)))  # 23:10-23:50 local
    db.session.commit()
    assert publish_horizon(3) == HorizonRound(days=0, slots=0)
    assert slot_at(hub, tomorrow, 9) is None and slot_at(hub, tomorrow, 10) is None
    assert local_days(hub)[tomorrow] == 22


def test_a_day_entering_the_horizon_is_added_and_only_it(ctx):
    hub = make_hub(schedule=ALL_DAY)
    publish_horizon(2)
    today = datetime.now(TZ).date()
    before = local_days(hub)
    # The quick look for new hubs passes over a hub that has its horizon started.
    assert publish_horizon(3, new_hubs_only=True) == HorizonRound(days=0, slots=0)
    assert publish_horizon(3) == HorizonRound(days=1, slots=23)  # "tomorrow": one more day in reach
    assert local_days(hub) == before + Counter({today + timedelta(days=2): 23})


def test_inactive_and_unscheduled_hubs_get_nothing(ctx):
    make_hub()
    make_hub(active=False, schedule=ALL_DAY)
    assert publish_horizon(3) == HorizonRound(days=0, slots=0)
    assert db.session.scalar(select(func.count()).select_from(Slot)) == 0


def test_two_rounds_in_parallel_create_each_slot_once(app):
    with app.app_context():
        hubs = [make_hub(schedule=ALL_DAY) for _ in range(3)]
    start, results = threading.Barrier(2), []

    def round_():
        with app.app_context():
            start.wait()
            results.append(publish_horizon(6))
            db.session.remove()

    threads = [threading.Thread(target=round_) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    with app.app_context():
        total = db.session.scalar(select(func.count()).select_from(Slot))
        distinct = db.session.scalar(select(func.count(func.distinct(
            func.concat(Slot.hub_id, Slot.starts_at, Slot.lane)))))
        assert len(results) == 2 and sum(r.slots for r in results) == total == distinct
        assert all(len(published_days(hub)) == 6 for hub in hubs)
        assert all(local_days(hub)[datetime.now(TZ).date() + timedelta(days=5)] == 23 for hub in hubs)


def test_a_round_steps_aside_while_another_worker_leads(ctx, pg_url):
    import psycopg2

    make_hub(schedule=ALL_DAY)
    leader = psycopg2.connect(pg_url)
    try:
        with leader.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", locks.SLOT_HORIZON)
        assert publish_horizon(2) == HorizonRound(days=0, slots=0, led=False)
    finally:
        leader.rollback()
        leader.close()
    assert publish_horizon(2).days == 2


def mid_day_zone() -> ZoneInfo:
    """A fixed-offset zone where it is now between 12:00 and 13:00."""
    offset = 12 - datetime.now(timezone.utc).hour  # -11 .. +12, all in the tz database
    return ZoneInfo("Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}")  # Etc signs are inverted


def test_no_path_creates_a_slot_that_has_already_started(app):
    tz = mid_day_zone()
    with app.app_context():
        hub = make_hub(timezone_name=tz.key, schedule=ALL_DAY)
        today = datetime.now(tz).date()
        before = datetime.now(timezone.utc)
        created = generate_slots(hub, today, 1)
        after = datetime.now(timezone.utc)
        starts = sorted(db.session.scalars(select(Slot.starts_at).where(Slot.hub_id == hub.id)))
    assert created == len(starts) and all(s > before for s in starts)  # this morning's 12 are not there
    wanted = [datetime(today.year, today.month, today.day, h, tzinfo=tz) for h in range(23)]
    assert {w for w in wanted if w > after} <= set(starts)
    # The CLI (a backfill of today) and the horizon follow the same rule.
    result = app.test_cli_runner().invoke(args=["generate-slots", "--hub", hub.code,
                                                "--from", today.isoformat(), "--days", "1"])
    assert result.exit_code == 0 and "created 0 slots" in result.output
    with app.app_context():
        other = make_hub(timezone_name=tz.key, schedule=ALL_DAY)
        publish_horizon(1)
        assert all(s > before for s in db.session.scalars(select(Slot.starts_at)
                                                          .where(Slot.hub_id == other.id)))


def test_the_backfill_recreates_what_is_missing_on_a_day_it_is_asked_for(app):
    with app.app_context():
        hub = make_hub(schedule=ALL_DAY)
        publish_horizon(2)
        tomorrow = datetime.now(TZ).date() + timedelta(days=1)
        db.session.execute(delete(Slot).where(Slot.id == slot_at(hub, tomorrow, 9).id))
        db.session.commit()
        assert publish_horizon(2).slots == 0
    result = app.test_cli_runner().invoke(args=["generate-slots", "--hub", hub.code,
                                                "--from", tomorrow.isoformat(), "--days", "1"])
    assert result.exit_code == 0 and "created 1 slots" in result.output, result.output
    with app.app_context():
        assert local_days(hub)[tomorrow] == 23
