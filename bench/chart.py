"""bench/results/latest.png: each figure against its target, and the latency percentiles.

Five panels: ratios to the ceiling (bar) with their targets (black tick); HTTP latency
percentiles per scenario beside the ceiling's; expiry lag percentiles against the 1 s target;
relay events/s against 2,000/s; and where each request's CPU went, by process group, against
the budget its target allows (the ceiling's CPU per request over the target ratio). Drawn
headless (Agg).
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FormatStrFormatter  # noqa: E402

from bench.cpu import cpu_ms_per_request  # noqa: E402

PASS, FAIL, NEUTRAL = "#2e7d32", "#c62828", "#607d8b"


def _colour(passed) -> str:
    return NEUTRAL if passed is None else (PASS if passed else FAIL)


def _ratios(ax, scenarios: dict) -> None:
    labels, values, targets, colours = [], [], [], []
    for s in scenarios.values():
        labels.append(s["name"] + (" (score vs 10k)" if "baseline_ratio" in s else ""))
        values.append(s["score"])
        targets.append(s["target_value"])
        colours.append(_colour(s["passed"]))
        if "p99_ratio" in s:
            labels.append(s["name"] + " p99 / ceiling p99 (lower is better)")
            values.append(s["p99_ratio"])
            targets.append(s["p99_target_value"])
            colours.append(_colour(s["p99_ratio"] <= s["p99_target_value"]))
    y = range(len(labels))
    ax.barh(y, values, color=colours)
    for i, target in enumerate(targets):
        if target is not None:
            ax.plot([target, target], [i - 0.4, i + 0.4], color="black", linewidth=2.5)
    for i, value in enumerate(values):
        ax.text(value, i, f" {value:.2f}", va="center", fontsize=8)
    ax.set_yticks(list(y), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("ratio to the ceiling measured beside it (black: target)")
    ax.set_title("Scenarios against their targets")


def _latencies(ax, results: dict) -> None:
    rows = {}
    for connections in (32, 200):
        runs = [r for r in results["ceiling_runs"] if r["connections"] == connections]
        if runs:
            rows[f"ceiling {connections}c"] = {k: sum(r["latency_ms"][k] for r in runs) / len(runs)
                                               for k in ("p50", "p90", "p99")}
    for s in results["scenarios"].values():
        rows[s["name"]] = s["run"]["latency_ms"]
    names = list(rows)
    width = 0.27
    for i, (key, shade) in enumerate((("p50", "#90caf9"), ("p90", "#42a5f5"), ("p99", "#0d47a1"))):
        ax.bar([n + (i - 1) * width for n in range(len(names))], [rows[name][key] for name in names],
               width, label=key, color=shade)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.set_ylabel("ms (log)")
    ax.legend(fontsize=8)
    ax.set_title("HTTP latency percentiles (wrk)")


def _expiry(ax, events: dict) -> None:
    candidates = (("timer + listener + sweeper", events.get("expiry")),
                  ("sweeper alone", events.get("expiry_sweeper_alone")))
    shown = [(name, e) for name, e in candidates if e and e["lag_ms"]]
    keys = ("p50", "p90", "p99", "max")
    width = 0.38
    for i, (name, e) in enumerate(shown):
        ax.bar([k + (i - 0.5) * width for k in range(len(keys))],
               [max(e["lag_ms"][k], 1) / 1000 for k in keys], width, label=name)
    ax.axhline(1.0, color="black", linestyle="--", linewidth=1, label="target: p99 < 1 s")
    ax.set_xticks(range(len(keys)), keys)
    ax.set_yscale("log")
    tallest = max((e["lag_ms"]["max"] / 1000 for _, e in shown), default=1.0)
    ax.set_ylim(0.05, max(tallest, 1.0) * 8)  # room above the bars for the legend
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.set_ylabel("s after locked_until (log)")
    ax.legend(fontsize=8, loc="upper left", ncol=3)
    ax.set_title("Expiry burst: SlotUnlocked lag")


def _relay(ax, events: dict) -> None:
    relay = events.get("relay")
    if not relay:
        ax.set_axis_off()
        return
    rate = relay["events_per_s"]
    ax.bar(["relay"], [rate], color=_colour(rate >= 2000 and relay["unpublished_left"] == 0), width=0.3)
    ax.axhline(2000, color="black", linestyle="--", linewidth=1, label="target: 2,000 events/s")
    ax.text(0, rate, f"{rate:,.0f}/s", ha="center", va="bottom")
    ax.set_xlim(-1, 1)
    ax.set_ylim(0, max(rate, 2000) * 1.3)
    ax.set_ylabel("events/s, publisher confirms")
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title("Relay: outbox -> exchange")


def _cpu(ax, results: dict) -> None:
    cpu_count = results["environment"]["machine"]["cpu_count"]
    ceiling = [c for c in (cpu_ms_per_request(r, cpu_count) for r in results["ceiling_runs"]
                           if r["connections"] == 32) if c]
    rows = [("ceiling", ceiling, None)]
    rows += [(s["name"], [c for c in [cpu_ms_per_request(s["run"], cpu_count)] if c], s)
             for s in results["scenarios"].values()]
    rows = [(name, costs, s) for name, costs, s in rows if costs]
    if not rows:
        ax.set_axis_off()
        return
    groups = [k for k in rows[0][1][0] if k != "total"]
    means = [{k: sum(c[k] for c in costs) / len(costs) for k in rows[0][1][0]} for _, costs, _ in rows]
    left = [0.0] * len(rows)
    for group in groups:
        widths = [m[group] for m in means]
        ax.barh(range(len(rows)), widths, left=left, label=group)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    for i, (_, _, s) in enumerate(rows):
        ax.text(means[i]["total"], i, f" {means[i]['total']:.2f} ms", va="center", fontsize=8)
        if s and s.get("target_value") and "baseline_ratio" not in s:
            beside = [c for c in (cpu_ms_per_request(r, cpu_count) for r in s["ceiling"]["runs"]) if c]
            if beside:  # the ceiling runs this scenario's ratio is to, at its connection count
                budget = sum(c["total"] for c in beside) / len(beside) / s["target_value"]
                ax.plot([budget, budget], [i - 0.4, i + 0.4], color="black", linewidth=2.5)
    ax.set_yticks(range(len(rows)), [name for name, _, _ in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("CPU ms per request, whole machine (black: the budget the target allows = "
                  "ceiling's CPU per request / target ratio)")
    ax.legend(fontsize=8, ncol=len(groups), loc="lower right")
    ax.set_title("Where each request's CPU went")


def draw(results: dict, path: Path) -> None:
    fig = plt.figure(figsize=(14, 13))
    grid = fig.add_gridspec(3, 2, width_ratios=[3, 2], height_ratios=[1, 1, 0.9])
    _ratios(fig.add_subplot(grid[0, 0]), results["scenarios"])
    _latencies(fig.add_subplot(grid[0, 1]), results)
    _expiry(fig.add_subplot(grid[1, 0]), results["events"])
    _relay(fig.add_subplot(grid[1, 1]), results["events"])
    _cpu(fig.add_subplot(grid[2, :]), results)
    env = results["environment"]
    mode = "quick" if results["plan"]["quick"] else "full"
    fig.suptitle(f"Calendar service, scripts/bench ({mode}) {results['started_at']}, commit {env['commit']}, "
                 f"{env['machine']['cpu_count']} CPUs")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
