"""The bench's arithmetic: what counts as an error, how a scenario is judged against the ceiling,
and whose CPU a run saw."""
import os

from bench.cpu import TICKS, Snapshot, cpu_ms_per_request, usage
from bench.load import WrkRun
from bench.profile import buckets
from bench.scenarios import Measured, Target


def wrk_run(rps: float, p99: float = 10.0, statuses=None, sockets=None, expected=frozenset(),
            connections: int = 32) -> WrkRun:
    return WrkRun(label="run", connections=connections, duration_s=2.0, requests=int(rps * 2),
                  latency_ms={"p50": p99 / 4, "p90": p99 / 2, "p99": p99},
                  statuses=statuses if statuses is not None else {200: int(rps * 2)},
                  socket_errors=sockets or {"connect": 0, "read": 0, "write": 0, "timeout": 0},
                  expected=expected)


def test_a_409_is_an_error_unless_the_scenario_expects_it():
    statuses = {201: 10, 409: 500}
    assert wrk_run(255, statuses=statuses).errors == 500
    assert wrk_run(255, statuses=statuses, expected=frozenset({409})).errors == 0


def test_socket_errors_timeouts_and_5xx_are_errors():
    run = wrk_run(100, statuses={200: 190, 503: 10},
                  sockets={"connect": 1, "read": 2, "write": 0, "timeout": 3})
    assert run.errors == 10 + 6
    assert run.server_errors == 10


def test_the_ratio_is_to_the_mean_of_the_ceiling_runs_beside_it():
    measured = Measured("listing", "listing", wrk_run(1500), [wrk_run(4000), wrk_run(6000)],
                        Target(">= 0.6", 0.6))
    assert measured.ratio == 0.3
    assert measured.passed is False
    assert Measured("listing", "listing", wrk_run(3000), [wrk_run(4000), wrk_run(6000)],
                    Target(">= 0.6", 0.6)).passed is True


def test_a_met_target_with_errors_does_not_pass():
    run = wrk_run(5000, statuses={200: 9990, 500: 10})
    assert Measured("listing", "listing", run, [wrk_run(5000)], Target(">= 0.6", 0.6)).passed is False


def test_the_storm_must_also_keep_its_p99_within_the_ceilings():
    ceilings = [wrk_run(5000, p99=100.0, connections=200)]
    fast_but_slow_tail = wrk_run(4000, p99=200.0, statuses={201: 10, 409: 7990}, expected=frozenset({409}),
                                 connections=200)
    storm = Measured("storm", "storm", fast_but_slow_tail, ceilings, Target(">= 0.6", 0.6),
                     p99_target=Target("<= 1.5x", 1.5, at_least=False))
    assert storm.ratio == 0.8 and storm.p99_ratio == 2.0
    assert storm.passed is False


def test_the_big_table_listing_is_judged_on_its_ratio_over_the_small_tables():
    big = Measured("listing_big", "listing", wrk_run(570), [wrk_run(6000)], Target(">= 0.9", 0.9),
                   baseline_ratio=0.1)
    assert round(big.score, 2) == 0.95
    assert big.passed is True



def test_cpu_taken_outside_the_bench_is_told_apart_from_the_benchs_own():
    root = 1000
    before = Snapshot(0.0, {root: ("python", 1, 0), 1001: ("gunicorn", root, 0),
                            1002: ("gunicorn", 1001, 0), 2000: ("pytest", 1, 0),
                            3000: ("kworker/0:1", 2, 0), 4000: ("redis-server", 1, 0)})
    second = TICKS  # each process uses one CPU-second of the 2 s window
    after = Snapshot(2.0, {pid: (name, parent, second) for pid, (name, parent, _) in before.ticks.items()})
    after.ticks[2001] = ("py-spy", 1, second)  # started during the run: all of it counts
    share = round(second / (2.0 * TICKS * os.cpu_count()), 3)

    seen = usage(before, after, root=root)

    assert seen["top_others"] == {"pytest": share, "py-spy": share}  # not our gunicorns
    assert seen["others_share"] == round(2 * share, 3)
    assert seen["services"] == {"redis-server": share}
    assert seen["kernel_threads_share"] == share


def test_the_benchs_own_processes_are_counted_by_role():
    root = os.getpid()  # this process's real command line names no role: it is the bench itself
    before = Snapshot(0.0, {root: ("python", 1, 0)})
    after = Snapshot(2.0, {root: ("python", 1, TICKS)})

    seen = usage(before, after, root=root)

    assert seen["own"] == {"bench": round(TICKS / (2.0 * TICKS * os.cpu_count()), 3)}
    assert seen["others_share"] == 0


def test_cpu_per_request_adds_up_each_process_group():
    run = {"duration_s": 2.0, "requests": 4000,
           "cpu": {"own": {"service web": 0.5, "worker": 0.05, "wrk": 0.1},
                   "services": {"postgres backend": 0.2, "postgres walwriter": 0.05, "redis-server": 0.02}}}

    cost = cpu_ms_per_request(run, cpu_count=2)  # 4 CPU-seconds over 4,000 requests: 1 ms a share

    assert cost["web (gunicorn)"] == 0.5 and cost["worker"] == 0.05 and cost["wrk"] == 0.1
    assert round(cost["PostgreSQL"], 6) == 0.25 and round(cost["Redis"], 6) == 0.02
    assert cost["RabbitMQ"] == 0 and round(cost["total"], 6) == 0.92
    assert cpu_ms_per_request({"duration_s": 2.0, "requests": 10, "cpu": {}}, cpu_count=2) is None


def test_profile_samples_go_to_the_first_bucket_they_match(tmp_path):
    raw = tmp_path / "holds.txt"
    raw.write_text(
        "Thread.run (threading.py:982);ThreadWorker.handle (gthread.py:281);Flask.__call__ (app.py:1536);"
        "hold_slot (holds.py:77);SlotGate.acquire (locking.py:110) 30\n"
        "Thread.run (threading.py:982);ThreadWorker.handle (gthread.py:281);Flask.__call__ (app.py:1536) 50\n"
        "Thread.run (threading.py:982);ThreadWorker.handle (gthread.py:276) 20\n"
        "MainThread;Arbiter.run (arbiter.py:201) 99\n")  # not a request thread: left out

    counts, total = buckets(raw)

    assert total == 100
    assert counts["Redis gate + rate-limit counters (one pipeline)"] == 30
    assert counts["the rest of Flask, flask-smorest, auth and our hooks"] == 50
    assert counts["gunicorn (HTTP parsing, thread pool, sockets)"] == 20


def test_a_run_where_the_machine_waited_is_told_apart():
    before = Snapshot(0.0, {}, machine=(1_000, 50))
    capacity = 2.0 * TICKS * os.cpu_count()  # all CPUs over the 2 s window
    after = Snapshot(2.0, {}, machine=(1_000 + int(capacity / 2), 50 + int(capacity / 10)))

    seen = usage(before, after, root=1)

    assert seen["idle_share"] == 0.5 and seen["steal_share"] == 0.1
