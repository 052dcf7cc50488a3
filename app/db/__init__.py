"""The database: engine set-up, the unit of work and its after-commit hooks, the clock, lock ids.

Only this package opens transactions (`uow.unit_of_work`, `uow.autocommit_connection`).
It imports nothing of the service but the unbound extensions.
"""
