"""flask commands: thin wrappers over the services.

    flask --app wsgi seed-hubs FILE          JSON or CSV, upsert by code
    flask --app wsgi generate-slots --hub KGN --from 2026-12-01 --days 14
    flask --app wsgi seed-demo               the README's demo hub, topped up
    flask --app wsgi close-hub KGN --from 2026-12-01 --to 2026-12-02 --reason "Snow"
    flask --app wsgi worker                  expiry listener, sweeper, outbox relay
"""
from __future__ import annotations

import csv
import json
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Iterator
from zoneinfo import ZoneInfo

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from marshmallow import ValidationError, fields

from app.errors import DomainError, NotFound, TimezoneLocked
from app.ops import demo
from app.schemas.closure import ClosureCreateSchema
from app.schemas.hub import WEEKDAYS, HubCreateSchema
from app.services import closures, hubs, schedule


class HubSeedSchema(HubCreateSchema):
    """A seed row may pin the hub's id (used only when it is created)."""

    id = fields.UUID(load_default=None)


def _csv_rows(text: str) -> list[dict]:
    """CSV columns: code,name,timezone[,active][,weekdays,opens,closes,slot_minutes,examiners].

    Values stay strings: the schema judges them, so a bad number is a row's error like any other.
    """
    rows = []
    for raw in csv.DictReader(text.splitlines()):
        row = {k: v.strip() for k, v in raw.items() if k and v and v.strip()}
        if "weekdays" in row:
            days = WEEKDAYS if row["weekdays"] == "all" else [d.strip() for d in row["weekdays"].split(",")]
            period = [row.pop("opens", "08:00"), row.pop("closes", "16:00")]
            row["schedule"] = {
                "slot_minutes": row.pop("slot_minutes", 60),
                "examiners": row.pop("examiners", 1),
                "weekly": {d: [list(period)] for d in days},
            }
            del row["weekdays"]
        rows.append(row)
    return rows


def _load_rows(path: Path) -> list[dict]:
    """The rows of a seed file; ClickException when it cannot be read as one."""
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".csv":
            return _csv_rows(text)
        data = json.loads(text)
    except (ValueError, csv.Error) as exc:  # not UTF-8, not JSON, a broken CSV
        raise click.ClickException(f"{path}: unreadable: {exc}") from None
    if isinstance(data, dict) and "hubs" in data:
        data = data["hubs"]
    if not isinstance(data, list):
        raise click.ClickException(f'{path}: expected a list of hubs, or {{"hubs": [...]}}')
    return data


# Segments of marshmallow's error paths that mean nothing to whoever edits the file.
_UNNAMED = ("_schema", "key", "value")


def _error_lines(messages: Any, path: tuple = ()) -> Iterator[str]:
    """marshmallow's messages of a many=True load, one line each: `row 3: timezone: Unknown ...`."""
    if isinstance(messages, dict):
        for key, value in messages.items():
            yield from _error_lines(value, (*path, key))
        return
    row = [f"row {path[0] + 1}"] if path and isinstance(path[0], int) else []
    field = ".".join(str(part) for part in path[len(row):] if part not in _UNNAMED)
    for message in messages if isinstance(messages, list) else [messages]:
        yield ": ".join([*row, *([field] if field else []), str(message).rstrip(".")])


def _progress(length: int, label: str):
    """click's progress bar on a terminal; nothing in a pipe, where click would still print its label."""
    return click.progressbar(length=length, label=label, hidden=not sys.stdout.isatty())


@click.command("seed-hubs")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def seed_hubs_command(file: Path) -> None:
    """Create or update hubs, by code, from a JSON or CSV FILE: all rows or none.

    \b
    JSON: a list of hubs, or {"hubs": [...]}; a hub:
      {"code": "MBJ", "name": "Montego Bay", "timezone": "America/Jamaica",
       "active": true,
       "schedule": {"slot_minutes": 60, "examiners": 2,
                    "weekly": {"mon": [["08:00", "12:00"], ["13:00", "17:00"]]}}}
      code      2-16 letters, digits, - or _; upper-cased; hubs are matched by it
      name      1-200 characters
      timezone  an IANA time zone
      active    optional, default true
      schedule  optional: slot_minutes 5-480 (60), examiners 1-50 (1),
                weekly: mon..sun, each a list of [opens, closes] in HH:MM
      id        optional UUID, used only when the hub is created

    \b
    CSV: a header line, then one hub per line:
      code,name,timezone[,active][,weekdays,opens,closes,slot_minutes,examiners]
      weekdays  all, or a quoted list such as "mon,tue": each opens opens-closes
                (default 08:00-16:00)

    \b
    A sample: docs/examples/hubs.json. Errors name the row (from 1; a CSV's
    header is not a row) and the field: row 3: timezone: Unknown IANA time zone.
    """
    try:
        rows = HubSeedSchema(many=True).load(_load_rows(file))
    except ValidationError as exc:
        lines = list(_error_lines(exc.messages))
        heading = f"{file}: nothing written, {len(lines)} error(s):"
        raise click.ClickException("\n".join([heading, *lines])) from None
    try:
        seeded = hubs.upsert_hubs(rows)
    except TimezoneLocked as exc:
        raise click.ClickException(f"{file}: nothing written: {exc.message}") from None
    for hub, created in seeded:
        click.echo(f"{'created' if created else 'updated'} {hub.code} {hub.id}")


@click.command("generate-slots")
@click.option("--hub", "hub_ref", required=True, help="Hub code or id")
@click.option("--from", "first_day", required=True, type=click.DateTime(["%Y-%m-%d"]),
              help="First local date, YYYY-MM-DD")
@click.option("--days", default=14, show_default=True, type=click.IntRange(1, 366))
@with_appcontext
def generate_slots_command(hub_ref: str, first_day, days: int) -> None:
    """Create slots from the hub's weekly schedule (idempotent, DST-correct)."""
    try:
        hub = hubs.find_hub(hub_ref)
    except NotFound as exc:
        raise click.ClickException(exc.message) from None
    if not hub.schedule:
        raise click.ClickException(f"hub {hub.code} has no schedule")
    with _progress(days, f"{hub.code} slots") as bar:
        created = schedule.generate_slots(hub, first_day.date(), days, lambda *_: bar.update(1))
    click.echo(f"created {created} slots for {hub.code}")


@click.command("seed-demo")
@with_appcontext
def seed_demo_command() -> None:
    """Create or top up the demo hub (550e8400-...-446655440000) and its slots."""
    with _progress(demo.DEMO_DAYS, "demo slots") as bar:
        result = demo.seed_demo(lambda *_: bar.update(1))
    click.echo(json.dumps(result))


# The closure's fields as the command's options name them, for its one-line errors.
_CLOSURE_OPTIONS = {"starts_at": "--from", "ends_at": "--to", "reason": "--reason"}


def _when(value: str, hub, option: str) -> datetime:
    """A --from/--to value as an aware instant: a date (2026-12-01 or 20261201) is the hub's local
    midnight (--to: the next one, so the day is closed whole), a time without an offset is the
    hub's local time. ClickException, one line, for anything else."""
    try:
        day = date.fromisoformat(value)  # exactly a date, in any ISO 8601 spelling
    except ValueError:
        day = None
    try:
        if day is None:
            moment = datetime.fromisoformat(value)
        else:
            moment = datetime.combine(day + timedelta(days=1) if option == "--to" else day, time(0))
    except ValueError:
        raise click.ClickException(f"{option}: {value!r}: expected YYYY-MM-DD or "
                                   "YYYY-MM-DDTHH:MM[+HH:MM]") from None
    except OverflowError:  # the day after 9999-12-31
        raise click.ClickException(f"{option}: {value!r} is out of range") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(hub.timezone))


@click.command("close-hub")
@click.argument("code")
@click.option("--from", "first", required=True, help="Start: YYYY-MM-DD or an ISO time; hub-local unless "
                                                     "it has an offset")
@click.option("--to", "last", required=True, help="End: YYYY-MM-DD (that day included) or an ISO time")
@click.option("--reason", required=True, help="Why the hub closes (sent with each cancellation)")
@click.option("--no-rebook", is_flag=True, help="Do not put cancelled candidates first on the waitlist")
@with_appcontext
def close_hub_command(code: str, first: str, last: str, reason: str, no_rebook: bool) -> None:
    """Close hub CODE (or id) for a window: withdraw its slots there and cancel their bookings.

    Does what POST /api/v1/hubs/{id}/closures does, and prints it: the
    closure's id, how many slots it withdrew, the bookings it cancelled and
    the waitlist entries their candidates now wait in (unless --no-rebook).
    Every refusal is one line.
    """
    try:
        hub = hubs.find_hub(code)
        start, end = _when(first, hub, "--from"), _when(last, hub, "--to")
        data = ClosureCreateSchema().load({"starts_at": start.isoformat(), "ends_at": end.isoformat(),
                                           "reason": reason, "rebook": not no_rebook})
        done = closures.close_hub(closures.ClosureRequest(hub.id, **data))
    except ValidationError as exc:
        named = {_CLOSURE_OPTIONS.get(field, field): problems for field, problems in exc.messages.items()}
        raise click.ClickException("; ".join(_error_lines(named))) from None
    except DomainError as exc:
        located = exc.fields.get("errors") or {}
        details = [line for where in located.values() for line in _error_lines(where)]
        raise click.ClickException("; ".join([exc.message, *details])) from None
    click.echo(f"closed {hub.code} from {done['starts_at']} to {done['ends_at']}: closure {done['id']}")
    click.echo(f"slots withdrawn: {done['slots_withdrawn']}")
    click.echo(f"bookings cancelled: {len(done['bookings_cancelled'])} {' '.join(done['bookings_cancelled'])}"
               .rstrip())
    click.echo(f"waitlist entries: {len(done['waitlist_entries'])} {' '.join(done['waitlist_entries'])}"
               .rstrip())


@click.command("worker")
@click.option("--no-listener", is_flag=True, help="Sweeper and relay only (no Redis notifications)")
@with_appcontext
def worker_command(no_listener: bool) -> None:
    """Run the expiry listener, sweeper and outbox relay until SIGTERM/SIGINT."""
    from app.worker import Worker

    Worker(current_app._get_current_object(), listen=not no_listener).run_until_signalled()


def init_app(app: Flask) -> None:
    """Register the commands on `app`."""
    for command in (seed_hubs_command, generate_slots_command, seed_demo_command, close_hub_command,
                    worker_command):
        app.cli.add_command(command)
