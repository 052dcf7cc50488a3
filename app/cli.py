"""flask commands: thin wrappers over the services.

    flask --app wsgi seed-hubs FILE          JSON or CSV, upsert by code
    flask --app wsgi generate-slots --hub KGN --from 2026-12-01 --days 14
    flask --app wsgi seed-demo               the README's demo hub, topped up
    flask --app wsgi worker                  expiry listener, sweeper, outbox relay
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from marshmallow import ValidationError, fields

from app.errors import NotFound
from app.ops import demo
from app.schemas.hub import WEEKDAYS, HubCreateSchema
from app.services import hubs, schedule


class HubSeedSchema(HubCreateSchema):
    """A seed row may pin the hub's id (used only when it is created)."""

    id = fields.UUID(load_default=None)


def _csv_rows(text: str) -> list[dict]:
    """CSV columns: code,name,timezone[,active][,weekdays,opens,closes,slot_minutes,examiners]."""
    rows = []
    for raw in csv.DictReader(text.splitlines()):
        row = {k: v.strip() for k, v in raw.items() if k and v and v.strip()}
        if "weekdays" in row:
            days = WEEKDAYS if row["weekdays"] == "all" else [d.strip() for d in row["weekdays"].split(",")]
            period = [row.pop("opens", "08:00"), row.pop("closes", "16:00")]
            row["schedule"] = {
                "slot_minutes": int(row.pop("slot_minutes", 60)),
                "examiners": int(row.pop("examiners", 1)),
                "weekly": {d: [list(period)] for d in days},
            }
            del row["weekdays"]
        rows.append(row)
    return rows


def _load_rows(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".csv":
        return _csv_rows(text)
    data = json.loads(text)
    return data["hubs"] if isinstance(data, dict) else data


@click.command("seed-hubs")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def seed_hubs_command(file: Path) -> None:
    """Create or update hubs from a JSON or CSV FILE (by code). All rows or none."""
    try:
        rows = HubSeedSchema(many=True).load(_load_rows(file))
    except (ValueError, KeyError, ValidationError) as exc:
        raise click.ClickException(f"{file}: {getattr(exc, 'messages', exc)}") from None
    for hub, created in hubs.upsert_hubs(rows):
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
    with click.progressbar(length=days, label=f"{hub.code} slots") as bar:
        created = schedule.generate_slots(hub, first_day.date(), days, lambda *_: bar.update(1))
    click.echo(f"created {created} slots for {hub.code}")


@click.command("seed-demo")
@with_appcontext
def seed_demo_command() -> None:
    """Create or top up the demo hub (550e8400-...-446655440000) and its slots."""
    with click.progressbar(length=demo.DEMO_DAYS, label="demo slots") as bar:
        result = demo.seed_demo(lambda *_: bar.update(1))
    click.echo(json.dumps(result))


@click.command("worker")
@click.option("--no-listener", is_flag=True, help="Sweeper and relay only (no Redis notifications)")
@with_appcontext
def worker_command(no_listener: bool) -> None:
    """Run the expiry listener, sweeper and outbox relay until SIGTERM/SIGINT."""
    from app.worker import Worker

    Worker(current_app._get_current_object(), listen=not no_listener).run_until_signalled()


def init_app(app: Flask) -> None:
    """Register the commands on `app`."""
    for command in (seed_hubs_command, generate_slots_command, seed_demo_command, worker_command):
        app.cli.add_command(command)
