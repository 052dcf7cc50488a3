"""Who used the CPU during a wrk run: the bench, the shared services, or something else.

The machine is shared: a test suite, a profiler or a build of other work can land inside a run
and make a ceiling (or a scenario) come out low. Each run records the CPU time that processes
outside the bench's own tree and outside PostgreSQL/Redis/RabbitMQ took, so a strange ratio can
be told from a real effect. Processes that start and end within the run are not seen. Divided
by the requests a run answered, the same record says what each request cost each process group.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

SERVICES = ("postgres", "redis-server", "beam.smp", "epmd", "erl_child_setup", "inet_gethost")
TICKS = os.sysconf("SC_CLK_TCK")
OWN = {"database": None}  # set by the bench: PostgreSQL backends of other databases are others


def watch_database(name: str) -> None:
    OWN["database"] = name


def _postgres_role(pid: int) -> str:
    """'other databases' for a backend of a calendar database not the bench's own; else its role
    (backends, autovacuum worker, checkpointer, walwriter...) from the process title."""
    try:
        title = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return "postgres"
    title = title.replace("\0", " ").strip()
    if ": " not in title:  # the postmaster keeps its command line
        return "postgres postmaster"
    if "calendar_" in title and OWN["database"] is not None and OWN["database"] not in title:
        return "postgres (other databases)"
    role = title.split(": ")[-1]
    if OWN["database"] and OWN["database"] in role:
        role = role.split(OWN["database"])[0].strip() or "backend"
    return "postgres " + (role if role and not role.startswith("postgres") else "backend")


@dataclass
class Snapshot:
    at: float
    ticks: dict[int, tuple[str, int, int]]  # pid -> (name, parent pid, utime + stime)
    machine: tuple[int, int] = (0, 0)  # all CPUs' (idle + iowait, steal) ticks from /proc/stat


def _machine_ticks() -> tuple[int, int]:
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    values = [int(v) for v in fields] + [0] * 8
    return values[3] + values[4], values[7]  # idle + iowait, steal


def snapshot() -> Snapshot:
    ticks = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:  # gone since the listing
            continue
        name = raw[raw.index("(") + 1:raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2:].split()
        ticks[int(entry.name)] = (name, int(fields[1]), int(fields[11]) + int(fields[12]))
    return Snapshot(time.monotonic(), ticks, _machine_ticks())


def _ours(pid: int, table: dict[int, tuple[str, int, int]], root: int) -> bool:
    seen = 0
    while pid > 1 and seen < 64:
        if pid == root:
            return True
        pid = table.get(pid, ("", 1, 0))[1]
        seen += 1
    return False


def _own_role(pid: int) -> str:
    """What one of the bench's own processes is: the service's web processes, the ceiling's, the worker."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "bench"
    if "gunicorn" in command:
        return "ceiling web" if "bench.ceiling" in command else "service web"
    if "flask" in command and "worker" in command:
        return "worker"
    return "bench"


def usage(before: Snapshot, after: Snapshot, root: int = os.getpid()) -> dict:
    """Shares of the whole machine (all CPUs) taken between the snapshots: by others, by the
    shared services and by the bench's own processes (web, worker), each by name."""
    capacity = max(after.at - before.at, 1e-3) * TICKS * (os.cpu_count() or 1)
    others: dict[str, int] = {}
    services: dict[str, int] = {}
    own: dict[str, int] = {}
    kernel = 0
    for pid, (name, parent, ticks) in after.ticks.items():
        earlier = before.ticks.get(pid)
        used = ticks - (earlier[2] if earlier and earlier[0] == name else 0)  # new since: all of it
        if used <= 0:
            continue
        if _ours(pid, after.ticks, root):
            role = _own_role(pid)
            own[role] = own.get(role, 0) + used
            continue
        label = _postgres_role(pid) if name == "postgres" else name
        if parent == 2:  # kernel threads (I/O, memory): anyone's, ours included
            kernel += used
        elif name in SERVICES and label != "postgres (other databases)":
            services[label] = services.get(label, 0) + used
        else:
            others[label] = others.get(label, 0) + used

    def shares(table: dict[str, int], floor: float = 0.005, top: int | None = 5) -> dict[str, float]:
        ranked = sorted(table.items(), key=lambda item: -item[1])[:top]
        return {label: round(used / capacity, 3) for label, used in ranked if used / capacity >= floor}
    return {"others_share": round(sum(others.values()) / capacity, 3), "top_others": shares(others),
            "services": shares(services, 0.0, None), "own": shares(own, 0.0, None),
            "kernel_threads_share": round(kernel / capacity, 3),
            # Not CPU-bound (waiting) or not given the CPU (a hypervisor's steal): either makes a
            # run's ratio say nothing about the code.
            "idle_share": round(max(after.machine[0] - before.machine[0], 0) / capacity, 3),
            "steal_share": round(max(after.machine[1] - before.machine[1], 0) / capacity, 3)}


# (column, how a process group is named in a run's `cpu` record)
CPU_COLUMNS = (("web (gunicorn)", ("own", ("service web", "ceiling web"))),
               ("PostgreSQL", ("services", ("postgres",))),
               ("Redis", ("services", ("redis-server",))),
               ("RabbitMQ", ("services", ("beam.smp", "epmd", "erl_child_setup"))),
               ("worker", ("own", ("worker",))),
               ("wrk", ("own", ("wrk",))))


def cpu_ms_per_request(run: dict, cpu_count: int) -> dict[str, float] | None:
    """CPU milliseconds one request cost each process group during `run` (None: not recorded)."""
    record = run.get("cpu") or {}
    if "own" not in record or not run.get("requests"):
        return None
    scale = run["duration_s"] * cpu_count * 1000 / run["requests"]  # machine share -> ms per request
    out = {}
    for column, (table, prefixes) in CPU_COLUMNS:
        share = sum(v for k, v in record.get(table, {}).items() if k.startswith(prefixes))
        out[column] = share * scale
    out["total"] = sum(out.values())
    return out


def children_seconds() -> float:
    """CPU seconds of every child this process has waited for (wrk, once it has ended)."""
    import resource

    spent = resource.getrusage(resource.RUSAGE_CHILDREN)
    return spent.ru_utime + spent.ru_stime
