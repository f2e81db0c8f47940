"""Statistics of one benchmark run, its printed table, its JSON and its plot."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# --- Statistics --------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100), nearest rank on the sorted values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


def steady_rate(times: Sequence[float]) -> float | None:
    """Completions per second between the 10th and the 90th percentile completion: the rate at
    saturation, without the ramp-up (queues filling) and the tail (the last messages draining)."""
    if len(times) < 10:
        return None
    ordered = sorted(times)
    lo, hi = ordered[len(ordered) // 10], ordered[(9 * len(ordered)) // 10]
    n = (9 * len(ordered)) // 10 - len(ordered) // 10
    return n / (hi - lo) if hi > lo else None


def per_second(times: Sequence[float], start: float) -> list[int]:
    """Completions in each second after ``start``."""
    if not times:
        return []
    bins = [0] * (int(max(times) - start) + 1)
    for t in times:
        bins[max(0, int(t - start))] += 1
    return bins


def latency_summary(latencies: Sequence[float]) -> dict[str, float | None]:
    ms = [1000 * x for x in latencies]
    return {
        "n": len(ms),
        "p50_ms": percentile(ms, 50),
        "p90_ms": percentile(ms, 90),
        "p99_ms": percentile(ms, 99),
        "max_ms": max(ms) if ms else None,
    }


# --- The table ---------------------------------------------------------------------------------


def _f(value: Any, fmt: str = "{:.1f}") -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return fmt.format(value)


def _mb(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:.0f}"


def _columns(result: dict[str, Any]) -> list[tuple[str, str]]:
    cols = [("baseline", "raw Celery chain"), ("service", "product: services"), ("http", "product: HTTP API")]
    if result.get("prefilled"):
        cols.append(("prefilled", f"services, {result['prefilled']['rows']:,} old rows"))
    return cols


def grid(result: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """The main figures: (label, one cell per column of _columns)."""
    cols, phases = _columns(result), result["phases"]
    rows: list[tuple[str, list[str]]] = []

    def row(label: str, getter: Any) -> None:
        cells = []
        for key, _ in cols:
            try:
                cells.append(getter(phases[key]))
            except (KeyError, TypeError):
                cells.append("-")
        rows.append((label, cells))

    row("saturation: placed", lambda p: _f(p["saturation"]["placed"], "{:,}"))
    row("saturation: orders/s (all work)", lambda p: _f(p["saturation"]["throughput_per_s"]))
    row("saturation: orders/s to terminal", lambda p: _f(p["saturation"]["terminal_steady_per_s"]))
    row("saturation: handled msgs/s", lambda p: _f(p["saturation"].get("messages_per_s")))
    row("saturation: CPU ms per order", lambda p: _f(p["saturation"]["cpu"]["ms_per_order_total"]))
    row(
        "saturation: bench cores / busy",
        lambda p: "{:.2f} / {:.0%}".format(
            p["saturation"]["cpu"]["bench_cores_used"], p["saturation"]["cpu"]["machine_busy_share"]
        ),
    )
    row("paced: rate asked, orders/s", lambda p: _f(p["paced"]["rate"]))
    row("paced: latency p50 ms", lambda p: _f(p["paced"]["latency"]["p50_ms"], "{:.0f}"))
    row("paced: latency p99 ms", lambda p: _f(p["paced"]["latency"]["p99_ms"], "{:.0f}"))
    row("paced: latency max ms", lambda p: _f(p["paced"]["latency"]["max_ms"], "{:.0f}"))
    # In the pipeline a delivery is handed over for sending in its publishing transaction, which
    # writes last_sent_at: these are hand-overs, and their "latency" is only the time from the
    # event's occurred_at to that write (the send itself is timed by the paced end-to-end latency).
    row("relay (pipeline): handed over/s", lambda p: _f(p["saturation"]["relay"]["sent_per_s_steady"]))
    row(
        "relay (pipeline): to hand-over p50/p99 ms",
        lambda p: "{:.0f} / {:.0f}".format(
            p["paced"]["relay"]["latency"]["p50_ms"], p["paced"]["relay"]["latency"]["p99_ms"]
        ),
    )
    row("relay (batch probe): events/s", lambda p: _f(p["relay_probe"]["relay_events_per_s"], "{:.0f}"))
    row("relay (batch probe): CPU ms/1000 ev", lambda p: _f(p["relay_probe"]["cpu_ms_per_1000"], "{:.0f}"))
    row(
        "relay (batch probe): batch p50/p99 ms",
        lambda p: "{:.0f} / {:.0f}".format(p["relay_probe"]["batch_ms_p50"], p["relay_probe"]["batch_ms_p99"]),
    )
    row(
        "outcomes (saturation)", lambda p: ", ".join(f"{k} {v}" for k, v in sorted(p["saturation"]["outcomes"].items()))
    )
    return rows


def table(result: dict[str, Any]) -> str:
    """The human summary: one column per variant, then the growth, memory, queries and ratios."""
    cols = _columns(result)
    lines: list[str] = [f"Databases: {databases(result)}", ""]
    head = f"{'':38}" + "".join(f"{title:>26}" for _, title in cols)
    lines += [head, "-" * len(head)]
    for label, cells in grid(result):
        lines.append(f"{label:38}" + "".join(f"{c:>26}" for c in cells))
    lines.append("")
    lines.append("Peak RSS (MB): " + ", ".join(f"{k} {_mb(v)}" for k, v in sorted(result["memory_peak_rss"].items())))
    cpu = result["phases"].get("service", {}).get("saturation", {}).get("cpu", {}).get("ms_per_order", {})
    if cpu:
        lines.append(
            "CPU ms per order (services, saturation): "
            + ", ".join(f"{k} {v:.1f}" for k, v in sorted(cpu.items(), key=lambda kv: -kv[1]))
        )
    for name, prof in (result.get("profile") or {}).items():
        if "breakdown" in prof:
            lines.append(
                f"Profile of {name} (% of CPU samples): " + ", ".join(f"{k} {v}" for k, v in prof["breakdown"].items())
            )
    growth = result.get("growth")
    if growth:
        lines.append(
            f"Growth ({result['prefilled']['rows']:,} old rows per table vs few): "
            + ", ".join(f"{k} {v:+.1%}" for k, v in growth.items() if v is not None)
        )
    lines.append("")
    lines.append("Queries per handled event (max; domain/selects/messaging/tx; extra per order line):")
    for handler, q in result["queries"]["handlers"].items():
        split = q["max_split"]
        extra = q["extra_per_line"]
        lines.append(
            f"  {handler:46} {q['max']:3d}  ({split['domain']}/{split['domain_selects']}/{split['messaging']}/"
            f"{split['tx']})  median {q['median']:g}"
            + (f"  +{extra:.1f}/line ({q['extra_selects_per_line']:.1f} selects)" if extra else "")
        )
    for name, n in result["queries"]["entry_services"].items():
        lines.append(f"  {name:46} {n:3d}")
    lines.append("")
    lines.append("Targets:")
    for t in result["targets"]:
        lines.append(f"  [{'met' if t['met'] else 'MISSED' if t['met'] is False else 'n/a'}] {t['name']}: {t['value']}")
    lines.append("")
    for key, title in (
        ("rounds", "Saturation rounds (chain, then product, alternated; the throughput ratio is their median)"),
        ("prefilled_rounds", "With the old rows (the growth is their median ratio against the rounds above)"),
    ):
        rounds = result.get(key) or []
        if len(rounds) > 1:
            lines.append(f"{title}:")
            for n, one in enumerate(rounds, start=1):
                lines.append(
                    f"  {n}: chain {one['baseline']:.1f}/s, product {one['service']:.1f}/s, ratio {one['ratio']:.2f}"
                )
            lines.append("")
    r = result["ratios"]
    lines.append(f"MODE    {databases(result)}")
    lines.append(
        f"RATIOS  product/baseline throughput = {_f(r['throughput'], '{:.2f}')}  "
        f"(HTTP {_f(r['throughput_http'], '{:.2f}')});  "
        f"product/baseline p99 = {_f(r['p99'], '{:.2f}')}  (HTTP {_f(r['p99_http'], '{:.2f}')});  "
        f"product/baseline CPU per order = {_f(r['cpu_per_order'], '{:.2f}')}"
    )
    return "\n".join(lines)


def databases(result: dict[str, Any]) -> str:
    """Which mode ran: one database, or one per domain (runs from before the mode were single)."""
    db = result["database"]
    if db.get("mode") == "split":
        own = ", ".join(db["aliases"][1:])
        return f"split, {db['vendor']}: a database per domain ({own}; users and Django's in default)"
    return f"single, {db['vendor']}: one database for every domain"


def markdown(result: dict[str, Any]) -> str:
    """The main figures as a Markdown table (for docs/performance.md)."""
    out = [f"Databases: {databases(result)}", ""]
    cols = _columns(result)
    out += ["| | " + " | ".join(title for _, title in cols) + " |", "|---|" + "---|" * len(cols)]
    out += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in grid(result)]
    return "\n".join(out)


def write_json(result: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(result, indent=2, default=str))


# --- The plot ----------------------------------------------------------------------------------


def plot(result: dict[str, Any], series: dict[str, Any], path: Path) -> None:
    """Throughput over time (saturation runs) and latency distributions (paced runs), PNG."""
    try:
        import matplotlib
    except ImportError:  # a venv without requirements-bench.txt: the figures are in result.json
        print("(no plot: matplotlib is not installed, see requirements-bench.txt)")
        return

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = {
        "baseline": "raw Celery chain",
        "service": "product: services",
        "http": "product: HTTP API",
        "prefilled": "product: services, 1M old rows",
    }
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 5.5))
    for key, s in series.items():
        if s.get("saturation_per_second"):
            ax1.plot(range(len(s["saturation_per_second"])), s["saturation_per_second"], label=names.get(key, key))
    ax1.set_title("At saturation: orders (chains) reaching their terminal state")
    ax1.set_xlabel("seconds since the first placement")
    ax1.set_ylabel("completions per second")
    ax1.grid(alpha=0.3)
    ax1.legend()
    for key, s in series.items():
        lat = sorted(1000 * x for x in s.get("paced_latencies", []))
        if lat:
            ax2.plot(lat, [(i + 1) / len(lat) for i in range(len(lat))], label=f"{names.get(key, key)}")
    ax2.set_xscale("log")
    ax2.set_title(f"Latency to terminal at {result['paced_rate']:.1f} orders/s (25% of the baseline's saturation)")
    ax2.set_xlabel("milliseconds (log)")
    ax2.set_ylabel("share of orders (CDF)")
    ax2.axhline(0.99, color="grey", lw=0.8, ls="--")
    ax2.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax2.grid(alpha=0.3, which="both")
    ax2.legend()
    m = result["machine"]
    fig.suptitle(
        f"{databases(result).split(':')[0]}, {m['cpus']} cores {m['cpu_model']}, load {m['load_at_start']} at start "
        f"(shared machine), commit {result['commit'][:10]}",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
