"""The Redis gate: the one owner of Redis.

Everything the service asks of Redis goes through this package: the client
and its one circuit breaker (`client`), every key name (`keys`), every Lua
script (`scripts`), the slot locks and hub versions (`slot_gate`), the
rate-limit counters (`rate_limits`), the hub-change subscription that
listings follow (`hub_changes`), the expiry notifications that wake the
worker's timer (`expiry_notifications`) and the sweeper's reconciliation of
keys with PostgreSQL (`reconcile`). Redis only saves work: when it is away
every caller carries on, with PostgreSQL alone.
"""
from app.gate.rate_limits import Budget
from app.gate.slot_gate import Claim, SlotGate, init_app, slot_gate

__all__ = ["Budget", "Claim", "SlotGate", "init_app", "slot_gate"]
