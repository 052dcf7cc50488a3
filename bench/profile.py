"""Where the web processes' Python time goes, from py-spy's raw (collapsed) output.

Record while wrk drives a scenario (the bench's stack, or any gunicorn):

    py-spy record --pid <gunicorn master> --subprocesses --gil -r 200 -d 6 -f raw -o holds.txt
    python -m bench.profile ceiling.txt listing.txt storm.txt holds.txt

`--gil` keeps only samples of the thread holding the GIL: Python's CPU, not
time waiting on PostgreSQL or Redis. Each sample of a request thread goes to
the first bucket whose frame it contains; the table gives each bucket's
share of a file's samples, so with the bench's CPU milliseconds per request
it says roughly what each part costs.
"""
from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

BUCKETS = (  # (bucket, frames that put a sample in it); the first match wins
    ("Redis gate + rate-limit counters (one pipeline)", ("SlotGate.acquire",)),
    ("PostgreSQL call (calendar.hold_slot)", ("hold_in_postgres",)),
    ("hub version bump after a change (Redis)", ("ListingCache.changed",)),
    ("listing cache check (subscription poll, or the version in Redis)", ("ListingCache.lookup",)),
    ("body validation (webargs, marshmallow)", ("Parser.parse", "Schema.load")),
    ("rate-limit check, candidate read from the body", ("_check_request_limit",)),
    ("error answer (409, 422)", ("handle_user_exception", "handle_http_exception")),
    ("access log line", ("GunicornLogger.access",)),
    ("the rest of Flask, flask-smorest, auth and our hooks", ("Flask.__call__",)),
    ("gunicorn (HTTP parsing, thread pool, sockets)", ("",)),
)
REQUEST_THREAD = ("ThreadWorker", "_worker", "Thread.run")


def buckets(path: Path) -> tuple[Counter, int]:
    counts: Counter = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if not samples.isdigit() or not any(marker in stack for marker in REQUEST_THREAD):
            continue
        total += int(samples)
        name = next(name for name, frames in BUCKETS if any(frame in stack for frame in frames))
        counts[name] += int(samples)
    return counts, total


def main(paths: list[str]) -> None:
    if not paths:
        sys.exit(__doc__)
    columns = [(Path(p).stem, *buckets(Path(p))) for p in paths]
    print("| where the Python time goes | " + " | ".join(name for name, _, _ in columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for bucket, _ in BUCKETS:
        cells = [f"{100 * counts[bucket] / total:.0f}%" if total else "-" for _, counts, total in columns]
        print(f"| {bucket} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
