"""Redis under Sentinel: the primary is SIGKILLed in the middle of a storm of holds.

A primary, a replica and a sentinel run on spare local ports (not the machine's
Redis) and are stopped whatever happens. The app finds the primary through the
sentinel (REDIS_SENTINELS, REDIS_SENTINEL_MASTER). While eight clients hold
slots, the primary is killed; the sentinel promotes the replica. PostgreSQL
must keep every slot to one holder, no answer may be a 5xx but a 503 with
Retry-After, and after the failover new holds are gated on the new primary.
"""
from __future__ import annotations

import signal
import subprocess
import threading
import time
import uuid
from collections import Counter

import pytest
import redis
from sqlalchemy import func, select

from app.extensions import db
from app.gate import slot_gate
from app.models import Booking
from tests.support.factories import make_hub, make_slots
from tests.support.http import hold_body
from tests.support.stack import free_port

pytestmark = [pytest.mark.drill, pytest.mark.e2e]
MASTER = "calendar-drill"


class SentinelSet:
    """A primary, a replica and one sentinel as child processes; `stop()` ends them all."""

    def __init__(self, workdir) -> None:
        self.workdir = workdir
        self.ports = {"primary": free_port(), "replica": free_port(), "sentinel": free_port()}
        self.processes: dict[str, subprocess.Popen] = {}

    def _server(self, name: str, *args: str) -> None:
        log = (self.workdir / f"{name}.log").open("wb")
        self.processes[name] = subprocess.Popen(
            ["redis-server", "--port", str(self.ports[name]), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir), *args], stdout=log, stderr=subprocess.STDOUT)

    def start(self) -> None:
        self._server("primary")
        self._server("replica", "--replicaof", "127.0.0.1", str(self.ports["primary"]))
        config = self.workdir / "sentinel.conf"
        config.write_text(f"port {self.ports['sentinel']}\nbind 127.0.0.1\n"
                          f"sentinel monitor {MASTER} 127.0.0.1 {self.ports['primary']} 1\n"
                          f"sentinel down-after-milliseconds {MASTER} 1000\n"
                          f"sentinel failover-timeout {MASTER} 5000\n")
        log = (self.workdir / "sentinel.log").open("wb")
        self.processes["sentinel"] = subprocess.Popen(["redis-server", str(config), "--sentinel"],
                                                      stdout=log, stderr=subprocess.STDOUT)
        replica = self.client("replica")
        deadline = time.monotonic() + 30
        # Up means: the replica has synced, and the sentinel knows the primary and has found the
        # replica (it learns of replicas from the primary's INFO, every 10 s): without that it
        # would have nobody to promote.
        while True:
            try:
                synced = replica.info("replication").get("master_link_status") == "up"
                if synced and self.primary_port() == self.ports["primary"] and self.replica_known():
                    return
            except redis.RedisError:
                pass
            assert time.monotonic() < deadline, "the sentinel set did not come up"
            time.sleep(0.2)

    def replica_known(self) -> bool:
        replicas = self.client("sentinel").execute_command("SENTINEL", "replicas", MASTER)
        for replica in replicas:  # RESP2: a flat [name, value, ...] list per replica
            flat = isinstance(replica, list)
            pairs = zip(replica[::2], replica[1::2], strict=False) if flat else replica.items()
            fields = {_text(k): _text(v) for k, v in pairs}
            if fields.get("port") == str(self.ports["replica"]) and "down" not in fields.get("flags", ""):
                return True
        return False

    def client(self, name: str) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.ports[name], socket_timeout=2)

    def primary_port(self) -> int | None:
        reply = self.client("sentinel").execute_command("SENTINEL", "get-master-addr-by-name", MASTER)
        return int(reply[1]) if reply else None

    def kill(self, name: str) -> None:
        self.processes[name].send_signal(signal.SIGKILL)
        self.processes[name].wait()

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@pytest.fixture
def sentinels(tmp_path):
    drill = SentinelSet(tmp_path)
    try:
        drill.start()
        yield drill
    finally:
        drill.stop()


def test_primary_killed_mid_storm_fails_over_without_a_double_booking(sentinels, make_app, run_worker,
                                                                       figures):
    settings = {"REDIS_URL": "redis://ignored.invalid:6379/0",
                "REDIS_SENTINELS": f"127.0.0.1:{sentinels.ports['sentinel']}",
                "REDIS_SENTINEL_MASTER": MASTER, "REDIS_RETRY_SECONDS": "0.5",
                "RATE_LIMIT_PER_CANDIDATE": "off"}
    app = make_app(**settings)
    # A worker (timer, listener, sweeper) on 2 s holds, running from before the failover.
    short = make_app(**settings, SLOT_LOCK_SECONDS="2", SWEEP_INTERVAL_SECONDS="1")
    run_worker(short)
    with app.app_context():
        slots = make_slots(make_hub(), 40, minutes=15)
    first = app.test_client().post("/api/v1/bookings", json=hold_body(slots[0].id))
    assert first.status_code == 201
    with app.app_context():
        assert sentinels.client("primary").get(slot_gate().key(slots[0].id)) is not None  # gated there

    answers: Counter = Counter()
    retry_after_missing = []
    stop = threading.Event()

    def storm():
        client = app.test_client()
        while not stop.is_set():
            for slot in slots[1:20]:
                response = client.post("/api/v1/bookings", json=hold_body(slot.id))
                answers[response.status_code] += 1
                if response.status_code == 503 and "Retry-After" not in response.headers:
                    retry_after_missing.append(response.get_data(as_text=True))

    threads = [threading.Thread(target=storm) for _ in range(8)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)
        killed_at = time.monotonic()
        sentinels.kill("primary")
        while sentinels.primary_port() != sentinels.ports["replica"]:
            assert time.monotonic() - killed_at < 30, "the sentinel never promoted the replica"
            time.sleep(0.1)
        failover = time.monotonic() - killed_at
        time.sleep(2.0)  # the storm goes on against the new primary
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    # New holds are gated on the new primary.
    fresh = app.test_client().post("/api/v1/bookings", json=hold_body(slots[30].id))
    deadline = time.monotonic() + 10
    while fresh.status_code != 201 and time.monotonic() < deadline:  # the breaker's pause may still run
        time.sleep(0.5)
        fresh = app.test_client().post("/api/v1/bookings", json=hold_body(slots[31].id))
    assert fresh.status_code == 201
    with app.app_context():
        assert sentinels.client("replica").get(slot_gate().key(fresh.get_json()["slot_id"])) is not None
        per_slot = Counter(db.session.scalars(select(Booking.slot_id).where(
            Booking.status.in_(("pending", "confirmed")))))
        total = db.session.scalar(select(func.count()).select_from(Booking))
    # Expiries after the failover: the listener follows the new primary, the hold ends on time,
    # and its slot can be held again within SWEEP_INTERVAL_SECONDS + 1 s of its end.
    client = short.test_client()
    held = client.post("/api/v1/bookings", json=hold_body(slots[35].id)).get_json()
    deadline = time.monotonic() + 10
    while sentinels.client("replica").pubsub_numsub("__keyevent@0__:expired")[0][1] < 1:
        assert time.monotonic() < deadline, "the expiry listener did not subscribe on the new primary"
        time.sleep(0.2)
    time.sleep(2.0)
    ends = time.monotonic() + 2.0  # SWEEP_INTERVAL_SECONDS + 1: the worker, not a later hold, ends it
    with short.app_context():
        while db.session.get(Booking, uuid.UUID(held["id"]), populate_existing=True).status != "expired":
            assert time.monotonic() < ends, "the hold did not end on time after the failover"
            db.session.rollback()
            time.sleep(0.1)
    assert client.post("/api/v1/bookings", json=hold_body(slots[35].id)).status_code == 201
    figures(f"failover in {failover:.1f} s; answers {dict(sorted(answers.items()))}; {total} bookings")
    assert set(per_slot.values()) == {1}, "a slot has two active bookings"
    assert set(answers) <= {201, 409, 503}, answers
    assert retry_after_missing == []
    assert answers[201] == 19  # each stormed slot was held exactly once
