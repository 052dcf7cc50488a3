"""scripts/bench: the service under load over HTTP, as ratios to a bare-Flask ceiling.

`python -m bench [--quick]` (through scripts/bench) starts a fresh database, gunicorn and the
worker, drives them with wrk, and writes a Markdown table, a JSON file and a chart to
bench/results/. Modules: service_stack (processes and stores), seed (SQL seeding), load (wrk),
scenarios (what is measured), events (expiry and relay on a real queue), report (outputs).
"""
