"""The flask commands: seed-hubs, generate-slots (DST-correct), seed-demo."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Hub, Slot
from app.ops.demo import DEMO_HUB_ID, DEMO_SLOT_IDS
from app.services.hubs import local_day_bounds
from tests.support.factories import make_hub

SAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "hubs.json"
NIGHT = {"slot_minutes": 60, "examiners": 1, "weekly": {"sun": [["00:00", "04:00"]]}}
HUBS = [{"code": "kgn2", "name": "Kingston North", "timezone": "America/Jamaica",
         "schedule": {"slot_minutes": 30, "examiners": 2, "weekly": {"mon": [["08:00", "10:00"]]}}},
        {"code": "OCR", "name": "Ocho Rios", "timezone": "America/Jamaica", "active": False}]
CSV = ("code,name,timezone,active,weekdays,opens,closes,slot_minutes,examiners\n"
       'MAN,Mandeville,America/Jamaica,true,"mon,tue",09:00,11:00,30,2\n'
       "POR,Port Antonio,America/Jamaica,false,,,,,\n")


def invoke(app, *args: str):
    return app.test_cli_runner().invoke(args=list(args))


def hubs_by_code(app) -> dict[str, Hub]:
    with app.app_context():
        return {hub.code: hub for hub in db.session.scalars(select(Hub))}


def slot_starts(app, hub_id=None, start=None, end=None) -> list[datetime]:
    query = select(Slot.starts_at).order_by(Slot.starts_at, Slot.lane)
    if hub_id is not None:
        query = query.where(Slot.hub_id == hub_id)
    if start is not None:
        query = query.where(Slot.starts_at >= start, Slot.starts_at < end)
    with app.app_context():
        return list(db.session.scalars(query))


@pytest.fixture
def night_hub(app):
    with app.app_context():
        return make_hub("America/New_York", code="NYC", schedule=NIGHT)


def test_commands_run_under_flasks_test_cli_runner(app):
    # Flask's documented way to test commands; needs @with_appcontext on each.
    result = app.test_cli_runner().invoke(args=["generate-slots", "--hub", "NOPE", "--from", "2030-01-07"])
    assert "application context" not in str(result.exception or "")
    assert result.exit_code != 0 and "not found" in result.output


def test_seed_hubs_from_json_creates_then_updates_by_code(app, tmp_path):
    path = tmp_path / "hubs.json"
    path.write_text(json.dumps(HUBS))
    first = invoke(app, "seed-hubs", str(path))
    assert first.exit_code == 0, first.output
    assert "created KGN2" in first.output and "created OCR" in first.output
    hubs = hubs_by_code(app)
    assert set(hubs) == {"KGN2", "OCR"} and hubs["OCR"].active is False
    assert hubs["KGN2"].schedule["examiners"] == 2
    path.write_text(json.dumps([{**HUBS[0], "name": "Kingston North (renamed)"}]))
    second = invoke(app, "seed-hubs", str(path))
    assert second.exit_code == 0 and "updated KGN2" in second.output
    again = hubs_by_code(app)
    assert len(again) == 2 and again["KGN2"].name == "Kingston North (renamed)"
    assert again["KGN2"].id == hubs["KGN2"].id


def test_seed_hubs_from_csv_upserts_by_code(app, tmp_path):
    path = tmp_path / "hubs.csv"
    path.write_text(CSV)
    assert invoke(app, "seed-hubs", str(path)).exit_code == 0
    first = hubs_by_code(app)
    path.write_text(CSV.replace("Mandeville", "Mandeville Central"))
    assert invoke(app, "seed-hubs", str(path)).exit_code == 0
    hubs = hubs_by_code(app)
    assert set(hubs) == {"MAN", "POR"} and hubs["MAN"].id == first["MAN"].id
    assert hubs["MAN"].name == "Mandeville Central"
    assert hubs["POR"].active is False and hubs["POR"].schedule is None
    assert hubs["MAN"].schedule["slot_minutes"] == 30 and hubs["MAN"].schedule["examiners"] == 2


def test_csv_schedule_gives_every_listed_weekday_the_rows_hours(app, tmp_path):
    path = tmp_path / "hubs.csv"
    path.write_text(CSV + "ALL,Every day,America/Jamaica,true,all,10:00,12:00,60,1\n")
    assert invoke(app, "seed-hubs", str(path)).exit_code == 0
    hubs = hubs_by_code(app)
    assert hubs["MAN"].schedule["weekly"] == {"mon": [["09:00", "11:00"]], "tue": [["09:00", "11:00"]]}
    weekly = hubs["ALL"].schedule["weekly"]
    assert len(weekly) == 7 and all(periods == [["10:00", "12:00"]] for periods in weekly.values())


def test_seed_hubs_help_documents_both_formats_and_the_sample(app):
    result = invoke(app, "seed-hubs", "--help")
    assert result.exit_code == 0
    for documented in ('{"hubs": [...]}', '"weekly": {"mon": [["08:00", "12:00"]',
                       "code,name,timezone[,active][,weekdays,opens,closes,slot_minutes,examiners]",
                       "docs/examples/hubs.json"):
        assert documented in result.output, documented


def test_the_sample_hubs_file_seeds(app):
    result = invoke(app, "seed-hubs", str(SAMPLE))
    assert result.exit_code == 0, result.output
    hubs = hubs_by_code(app)
    assert {code for code in hubs} == {hub["code"] for hub in json.loads(SAMPLE.read_text())["hubs"]}
    assert hubs["MBJ"].schedule["examiners"] == 2 and hubs["POR"].active is False


def test_seed_hubs_errors_are_lines_naming_row_and_field(app, tmp_path):
    path = tmp_path / "hubs.json"
    path.write_text(json.dumps([HUBS[0], HUBS[1], {**HUBS[1], "code": "NOPE", "timezone": "Nope/Zone"},
                                {"code": "X", "name": "Bad", "timezone": "America/Jamaica",
                                 "schedule": {"weekly": {"mon": [["8am", "10:00"]]}}}]))
    result = invoke(app, "seed-hubs", str(path))
    assert result.exit_code != 0 and hubs_by_code(app) == {}
    lines = result.output.splitlines()
    assert "row 3: timezone: Unknown IANA time zone 'Nope/Zone'" in lines
    assert "row 4: code: 2-16 letters, digits, '-' or '_'" in lines
    assert "row 4: schedule.weekly.mon.0.0: Expected HH:MM (24 h)" in lines
    assert not any("{" in line for line in lines)  # no Python repr of marshmallow's messages


def test_csv_errors_count_rows_after_the_header(app, tmp_path):
    path = tmp_path / "hubs.csv"
    path.write_text(CSV + "XYZ,Nowhere,America/Jamaica,true,all,09:00,11:00,lots,1\n")
    result = invoke(app, "seed-hubs", str(path))
    assert "row 3: schedule.slot_minutes: Not a valid integer" in result.output.splitlines()


def test_progress_bars_stay_off_when_stdout_is_not_a_terminal(app):
    with app.app_context():
        make_hub(code="GEN", schedule={"weekly": {"mon": [["08:00", "10:00"]]}})
    result = invoke(app, "generate-slots", "--hub", "GEN", "--from", "2030-01-07", "--days", "7")
    assert result.exit_code == 0 and result.output.splitlines() == ["created 2 slots for GEN"]
    demo = invoke(app, "seed-demo")
    assert demo.exit_code == 0 and "demo slots" not in demo.output
    assert len(demo.output.splitlines()) == 1 and json.loads(demo.output)["hub_created"] is True


@pytest.mark.parametrize("name, text", [
    ("bad.json", json.dumps([HUBS[0], {**HUBS[1], "timezone": "Atlantis/Capital"}])),
    ("bad.csv", CSV + "XYZ,Nowhere,America/Jamaica,true,all,09:00,11:00,lots,1\n"),
    ("bad.csv", CSV + "XYZ,Nowhere,America/Jamaica,true,mon,11:00,09:00,30,1\n"),
    ("broken.json", '[{"code": "AB"'),
])
def test_seed_hubs_with_an_invalid_row_writes_nothing(app, tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    result = invoke(app, "seed-hubs", str(path))
    assert result.exit_code != 0 and name in result.output
    assert hubs_by_code(app) == {}


def test_generate_slots_follows_the_schedule_and_is_idempotent(app):
    with app.app_context():
        weekly = {day: [["08:00", "10:00"]] for day in ("mon", "tue", "wed")}
        hub = make_hub(code="GEN", schedule={"slot_minutes": 30, "examiners": 2, "weekly": weekly})
    # 2030-01-07 is a Monday: three open days x 4 periods x 2 lanes.
    first = invoke(app, "generate-slots", "--hub", "gen", "--from", "2030-01-07", "--days", "7")
    assert first.exit_code == 0, first.output
    assert "created 24 slots" in first.output and len(slot_starts(app, hub.id)) == 24
    second = invoke(app, "generate-slots", "--hub", str(hub.id), "--from", "2030-01-07", "--days", "7")
    assert second.exit_code == 0 and "created 0 slots" in second.output
    assert len(slot_starts(app, hub.id)) == 24


def test_generate_slots_skips_the_hour_lost_to_spring_forward(app, night_hub):
    result = invoke(app, "generate-slots", "--hub", "NYC", "--from", "2027-03-14", "--days", "1")
    assert result.exit_code == 0, result.output
    hours = [datetime(2027, 3, 14, h, tzinfo=timezone.utc) for h in (5, 6, 7)]
    assert slot_starts(app, night_hub.id) == hours


def test_generate_slots_gains_the_hour_of_fall_back(app, night_hub):
    result = invoke(app, "generate-slots", "--hub", "NYC", "--from", "2027-11-07", "--days", "1")
    assert result.exit_code == 0, result.output
    hours = [datetime(2027, 11, 7, h, tzinfo=timezone.utc) for h in range(4, 9)]
    assert slot_starts(app, night_hub.id) == hours


def test_generate_slots_for_an_unknown_hub_fails_with_a_message(app):
    result = invoke(app, "generate-slots", "--hub", "NOPE", "--from", "2030-01-07", "--days", "1")
    assert result.exit_code != 0 and "'NOPE' not found" in result.output
    assert slot_starts(app) == []


def test_generate_slots_for_a_hub_without_schedule_fails(app):
    with app.app_context():
        make_hub(code="BARE")
    result = invoke(app, "generate-slots", "--hub", "BARE", "--from", "2030-01-07")
    assert result.exit_code != 0 and "no schedule" in result.output


def test_seed_demo_opens_the_next_14_local_days_with_its_fixed_slots(app):
    result = invoke(app, "seed-demo")
    assert result.exit_code == 0, result.output
    tz = ZoneInfo("America/Jamaica")
    today = datetime.now(tz).date()
    for offset in range(1, 15):
        start, end = local_day_bounds(today + timedelta(days=offset), tz)
        assert len(slot_starts(app, DEMO_HUB_ID, start, end)) >= 16, today + timedelta(days=offset)
    now = datetime.now(timezone.utc)
    with app.app_context():
        fixed = {s.id: s for s in db.session.scalars(select(Slot).where(Slot.id.in_(DEMO_SLOT_IDS)))}
    assert set(fixed) == set(DEMO_SLOT_IDS)
    assert all(s.starts_at > now and s.hub_id == DEMO_HUB_ID for s in fixed.values())


def test_seed_demo_twice_adds_no_slots(app):
    assert invoke(app, "seed-demo").exit_code == 0
    before = len(slot_starts(app))
    again = invoke(app, "seed-demo")
    assert again.exit_code == 0 and json.loads(again.output.splitlines()[-1])["slots_created"] == 0
    assert len(slot_starts(app)) == before
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Hub)) == 1
