"""Plots of Tahoma results (issue 17 item 2).

Every function takes the plain dicts that `tahoma COMMAND --format json` prints (json.load of the CLI's output)
or that the Python module returns, and returns a matplotlib Figure; nothing is drawn by hand. The figures are
built with matplotlib.figure.Figure, not pyplot, so they need no display and leave pyplot's state alone;
`fig.savefig("x.svg")` writes one and `to_svg(fig)` gives the self-contained SVG text the HTML report inlines.

    import json, tahoma.plots as tp
    fig = tp.step_breakdown(json.load(open("step.json")))    # tahoma simulate ... --format json -o step.json
    fig.savefig("step.svg")

Units on the axes are the JSON's converted once here: seconds shown as s or ms, bytes as GB (1e9 B).
"""

from __future__ import annotations

import io
import json
import math
import re
from typing import Any, Iterable, Mapping, Sequence

import matplotlib
from matplotlib.figure import Figure

__all__ = [
    "step_breakdown",
    "memory",
    "pipeline_timeline",
    "scaling",
    "search_pareto",
    "validation",
    "serving_latency",
    "to_svg",
    "layout_label",
]

GB = 1e9

# One colour per step component, the same in every plot (matplotlib's tab10 / tab20 cycle).
_COMPONENT_COLORS = {
    "compute": "#1f77b4",
    "tp": "#ff7f0e",
    "cp": "#ffbb78",
    "ep": "#d62728",
    "pp": "#9467bd",
    "dp": "#2ca02c",
    "exposed comm": "#ff7f0e",
    "bubble": "#7f7f7f",
    "optimizer": "#8c564b",
    "host bound": "#e377c2",
    "offload bound": "#bcbd22",
}
_MEMORY_COLORS = {
    "weights": "#1f77b4",
    "gradients": "#ff7f0e",
    "optimizer": "#2ca02c",
    "activations": "#d62728",
    "logits": "#9467bd",
    "workspace": "#8c564b",
    "other": "#c7c7c7",
}
_TRACE_COLORS = {
    "forward": "#1f77b4",
    "backward": "#aec7e8",
    "tp": "#ff7f0e",
    "cp": "#ffbb78",
    "ep": "#d62728",
    "pp": "#9467bd",
    "dp": "#2ca02c",
    "optimizer": "#8c564b",
}


# ----------------------------------------------------------------------------------------------- helpers
def _figure(width: float = 8.0, height: float = 4.5) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def _as_list(x: Any) -> list:
    if isinstance(x, Mapping):
        return [x]
    return list(x)


def _load(x: Any) -> Any:
    """A dict/list as is, or a path to a JSON file."""
    if isinstance(x, (str, bytes)) or hasattr(x, "__fspath__"):
        with open(x, encoding="utf-8") as f:
            return json.load(f)
    return x


def _time_unit(max_seconds: float) -> tuple[float, str]:
    return (1e3, "ms") if max_seconds < 1.0 else (1.0, "s")


def layout_label(layout: Mapping[str, Any]) -> str:
    """A layout in one short line: 'tp/pp/vpp/cp/dp 8/16/2/1/128 ep 8 mb 1 z1 selective'."""
    if not layout:
        return ""
    degrees = "/".join(str(layout.get(k, 1)) for k in ("tp", "pp", "vpp", "cp", "dp"))
    parts = [f"tp/pp/vpp/cp/dp {degrees}"]
    if layout.get("ep", 1) not in (1, None):
        parts.append(f"ep {layout['ep']}")
    if "micro_batch" in layout:
        parts.append(f"mb {layout['micro_batch']}")
    if "zero" in layout:
        parts.append(f"z{layout['zero']}")
    if layout.get("recompute"):
        parts.append(str(layout["recompute"]))
    return " ".join(parts)


def _kind(result: Mapping[str, Any]) -> str:
    if "systems" in result and isinstance(result["systems"], list):
        return "compare"
    if "results" in result and "considered" in result:
        return "search-serve" if "max_candidates" in result else "search"
    if "breakdown" in result and "step_time_s" in result:
        return "simulate" if "config" in result else "search-row"
    if "rows" in result and "summary" in result:
        return "validate"
    if "ttft_s" in result and "throughput" in result:
        return "serve"
    raise ValueError("not a Tahoma result: expected the JSON of simulate, search, compare, validate or serve "
                     f"(keys: {', '.join(sorted(result)[:8])})")


def _steps(results: Any, labels: Sequence[str] | None) -> list[tuple[str, Mapping[str, Any]]]:
    """(label, row with breakdown/memory/step_time_s) for a simulate result, a list of them, a search (its
    ranked layouts) or a compare (each system's best layout)."""
    rows: list[tuple[str, Mapping[str, Any]]] = []
    for result in _as_list(_load(results)):
        kind = _kind(result)
        if kind == "simulate":
            cfg = result.get("config", {})
            name = cfg.get("system_ref") or cfg.get("system", {}).get("name", "")
            rows.append((f"{name} {cfg.get('chips', '')}\n{layout_label(cfg.get('plan', {}))}", result))
        elif kind == "search":
            for rank, row in enumerate(result["results"], start=1):
                rows.append((f"#{rank} {layout_label(row.get('layout', {}))}", row))
        elif kind == "compare":
            for system in result["systems"]:
                if system.get("results"):
                    row = system["results"][0]
                    rows.append((f"{system['system']}\n{layout_label(row.get('layout', {}))}", row))
        elif kind == "search-row":
            rows.append((layout_label(result.get("layout", {})), result))
        else:
            raise ValueError(f"a {kind} result has no training step to plot")
    if labels is not None:
        if len(labels) != len(rows):
            raise ValueError(f"{len(labels)} labels for {len(rows)} results")
        rows = [(label, row) for label, (_, row) in zip(labels, rows)]
    return rows


def _breakdown_components(b: Mapping[str, float]) -> dict[str, float]:
    """The step's components in seconds, exposed communication split by parallel group when the JSON has it."""
    out = {"compute": b.get("compute_s", 0.0)}
    by_group = b.get("exposed_comm_by_group_s")
    if by_group:
        for group in ("tp", "cp", "ep", "pp", "dp"):
            out[group] = by_group.get(group, 0.0)
    else:
        out["exposed comm"] = b.get("exposed_comm_s", 0.0)
    out["bubble"] = b.get("bubble_s", 0.0)
    out["optimizer"] = b.get("optimizer_s", 0.0)
    out["host bound"] = b.get("host_bound_s", 0.0)
    out["offload bound"] = b.get("offload_bound_s", 0.0)
    return out


# ----------------------------------------------------------------------------------------------- plots
def step_breakdown(results: Any, labels: Sequence[str] | None = None, title: str | None = None) -> Figure:
    """Stacked bars of one training step per system or layout: compute, exposed communication (per parallel
    group when known), pipeline bubble, optimizer, host/offload bound. `results`: a simulate result, a list of
    them, a search result (one bar per ranked layout) or a compare result (each system's best layout)."""
    rows = _steps(results, labels)
    if not rows:
        raise ValueError("no step to plot: the result has no layouts")
    comps = [_breakdown_components(row["breakdown"]) for _, row in rows]
    names = [k for k in comps[0] if any(c.get(k, 0.0) > 0 for c in comps)]
    for c in comps[1:]:
        names += [k for k in c if k not in names and c[k] > 0]
    totals = [row.get("step_time_s", sum(c.values())) for (_, row), c in zip(rows, comps)]
    scale, unit = _time_unit(max(totals))
    fig = _figure(8.0, max(2.5, 1.0 + 0.55 * len(rows)))
    ax = fig.add_subplot()
    y = list(range(len(rows)))
    left = [0.0] * len(rows)
    for name in names:
        widths = [c.get(name, 0.0) * scale for c in comps]
        label = name if name not in ("tp", "cp", "ep", "pp", "dp") else f"{name} comm (exposed)"
        ax.barh(y, widths, left=left, color=_COMPONENT_COLORS.get(name), label=label, height=0.6)
        left = [l + w for l, w in zip(left, widths)]
    for yi, total in zip(y, totals):
        ax.text(total * scale, yi, f" {total * scale:.3g} {unit}", va="center", fontsize=8)
    ax.set_yticks(y, [label for label, _ in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"step time ({unit})")
    ax.set_xlim(0, max(totals) * scale * 1.18)
    ax.set_title(title or "Step time breakdown")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.grid(axis="x", alpha=0.3)
    return fig


def memory(results: Any, labels: Sequence[str] | None = None, title: str | None = None) -> Figure:
    """Memory per chip against the chip's HBM capacity: stacked bars of weights, gradients, optimizer state,
    activations, logits and workspace (GB), with a mark at the capacity. Same inputs as step_breakdown."""
    rows = _steps(results, labels)
    if not rows:
        raise ValueError("no memory to plot: the result has no layouts")
    keys = ["weights", "gradients", "optimizer", "activations", "logits", "workspace"]
    fig = _figure(8.0, max(2.5, 1.0 + 0.55 * len(rows)))
    ax = fig.add_subplot()
    y = list(range(len(rows)))
    parts: list[dict[str, float]] = []
    for _, row in rows:
        m = row["memory"]
        p = {k: m.get(f"{k}_bytes", 0.0) / GB for k in keys}
        # Search rows omit some terms (workspace, logits): the rest of the peak is shown as 'other'.
        p["other"] = max(0.0, m.get("peak_bytes_per_chip", 0.0) / GB - sum(p.values()))
        if p["other"] < 1e-3:
            p["other"] = 0.0
        parts.append(p)
    left = [0.0] * len(rows)
    for name in keys + ["other"]:
        widths = [p[name] for p in parts]
        if not any(w > 0 for w in widths):
            continue
        ax.barh(y, widths, left=left, color=_MEMORY_COLORS[name], label=name, height=0.6)
        left = [l + w for l, w in zip(left, widths)]
    capacities = [row["memory"].get("capacity_bytes_per_chip", 0.0) / GB for _, row in rows]
    for yi, cap in zip(y, capacities):
        ax.plot([cap, cap], [yi - 0.42, yi + 0.42], color="black", linewidth=2,
                label="HBM capacity" if yi == 0 else None)
    for yi, (_, row), total in zip(y, rows, left):
        m = row["memory"]
        fits = row.get("fits", m.get("fits", True))
        ax.text(max(total, capacities[yi]), yi, f" {total:.1f} GB" + ("" if fits else " DOES NOT FIT"),
                va="center", fontsize=8, color="black" if fits else "#d62728")
    ax.set_yticks(y, [label for label, _ in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("memory per chip (GB)")
    ax.set_xlim(0, max(max(left), max(capacities)) * 1.25)
    ax.set_title(title or "Memory per chip against capacity")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.grid(axis="x", alpha=0.3)
    return fig


def pipeline_timeline(trace: Any, title: str | None = None, max_rows: int = 48) -> Figure:
    """The pipeline timeline of one step: the event engine's tasks (`tahoma simulate --trace FILE`, a Chrome
    trace: a dict with traceEvents, the event list, or the file's path) as a Gantt chart, one row per rank
    stream (pipeline stage x compute / scale-up / data-parallel...), coloured by category."""
    data = _load(trace)
    events = data.get("traceEvents", []) if isinstance(data, Mapping) else list(data)
    process_names: dict[Any, str] = {}
    thread_names: dict[tuple[Any, Any], str] = {}
    for e in events:
        if e.get("ph") == "M" and e.get("name") == "process_name":
            process_names[e.get("pid")] = e.get("args", {}).get("name", str(e.get("pid")))
        elif e.get("ph") == "M" and e.get("name") == "thread_name":
            thread_names[(e.get("pid"), e.get("tid"))] = e.get("args", {}).get("name", str(e.get("tid")))
    spans = [e for e in events if e.get("ph") == "X" and e.get("dur") is not None]
    if not spans:
        raise ValueError("the trace has no tasks (complete 'X' events); write one with tahoma simulate --trace FILE")
    row_keys = sorted({(e.get("pid", 0), e.get("tid", 0)) for e in spans},
                      key=lambda k: (_num(k[0]), _num(k[1])))[:max_rows]
    row_index = {k: i for i, k in enumerate(row_keys)}
    end_us = max(e["ts"] + e["dur"] for e in spans)
    scale, unit = _time_unit(end_us * 1e-6)
    to_unit = 1e-6 * scale  # the trace's time stamps are microseconds (Chrome trace format)
    by_cat: dict[str, dict[int, list[tuple[float, float]]]] = {}
    for e in spans:
        row = row_index.get((e.get("pid", 0), e.get("tid", 0)))
        if row is None:
            continue
        cat = e.get("cat") or "other"
        by_cat.setdefault(cat, {}).setdefault(row, []).append((e["ts"] * to_unit, e["dur"] * to_unit))
    fig = _figure(10.0, max(2.5, 0.9 + 0.28 * len(row_keys)))
    ax = fig.add_subplot()
    extra = iter(matplotlib.colormaps["tab20"].colors)
    for cat in sorted(by_cat, key=lambda c: (list(_TRACE_COLORS).index(c) if c in _TRACE_COLORS else 99, c)):
        color = _TRACE_COLORS.get(cat) or next(extra)
        first = True
        for row, bars in sorted(by_cat[cat].items()):
            ax.broken_barh(bars, (row - 0.4, 0.8), facecolors=color, edgecolor="none",
                           label=cat if first else None)
            first = False
    labels = []
    for pid, tid in row_keys:
        proc = process_names.get(pid, f"pid {pid}")
        proc = re.sub(r"^pipeline stage (\d+).*", r"stage \1", proc)
        labels.append(f"{proc} {thread_names.get((pid, tid), f'tid {tid}')}")
    ax.set_yticks(range(len(row_keys)), labels, fontsize=7)
    ax.set_ylim(len(row_keys) - 0.5, -0.5)
    ax.set_xlim(0, end_us * to_unit)
    ax.set_xlabel(f"time in the step ({unit})")
    ax.set_title(title or f"Pipeline timeline of one step ({len(spans)} tasks)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.grid(axis="x", alpha=0.3)
    return fig


def _num(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.inf


def scaling(results: Iterable[Mapping[str, Any]], title: str | None = None) -> Figure:
    """Throughput and MFU against chip count: `results` is a list of simulate results of one model at several
    chip counts. Tokens/s on the left axis (with perfect linear scaling from the smallest count), MFU on the
    right."""
    rows = sorted((_load(r) for r in results), key=lambda r: r.get("config", {}).get("chips", 0))
    if not rows:
        raise ValueError("no results to plot: give a list of simulate results at several chip counts")
    for r in rows:
        if _kind(r) != "simulate":
            raise ValueError("scaling takes simulate results (tahoma simulate ... --format json)")
    chips = [r["config"]["chips"] for r in rows]
    tps = [r["tokens_per_s"] for r in rows]
    mfu = [100.0 * r["mfu"] for r in rows]
    fig = _figure(8.0, 4.5)
    ax = fig.add_subplot()
    ax.plot(chips, tps, "o-", color="#1f77b4", label="tokens/s")
    ax.plot(chips, [tps[0] * c / chips[0] for c in chips], "--", color="#1f77b4", alpha=0.4,
            label="linear scaling")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("chips")
    ax.set_ylabel("tokens/s")
    ax2 = ax.twinx()
    ax2.plot(chips, mfu, "s-", color="#d62728", label="MFU")
    ax2.set_ylabel("MFU (%)")
    ax2.set_ylim(0, max(100.0, max(mfu) * 1.1) if max(mfu) > 60 else max(mfu) * 1.5 + 1)
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=8, loc="upper left")
    ax.grid(alpha=0.3, which="both")
    model = rows[0].get("config", {}).get("model_ref", "")
    system = rows[0].get("config", {}).get("system_ref", "")
    ax.set_title(title or f"Scaling: {model} on {system}".strip())
    return fig


def _pareto(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats (lower x and higher y), in x order."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best_y = [], -math.inf
    for i in order:
        if points[i][1] > best_y:
            front.append(i)
            best_y = points[i][1]
    return front


def search_pareto(result: Any, x: str = "memory", title: str | None = None) -> Figure:
    """Search results as tokens/s against memory per chip (x='memory', GB) or cost (x='cost', $ per million
    tokens), with the Pareto front (no layout both faster and cheaper) drawn and the winner marked. `result`: a
    search result (its ranked layouts; run with --top N for more points) or a compare result (one colour per
    system)."""
    if x not in ("memory", "cost"):
        raise ValueError(f"x='{x}': expected 'memory' or 'cost'")
    result = _load(result)
    kind = _kind(result)
    if kind == "search":
        groups = [(result.get("system", ""), result["results"])]
    elif kind == "compare":
        groups = [(s["system"], s.get("results", [])) for s in result["systems"]]
    else:
        raise ValueError(f"search_pareto takes a search or compare result, not {kind}")

    def xval(row: Mapping[str, Any]) -> float | None:
        if x == "memory":
            return row["memory"]["peak_bytes_per_chip"] / GB
        return row.get("cost_usd_per_million_tokens")

    fig = _figure(8.0, 4.8)
    ax = fig.add_subplot()
    colors = iter(matplotlib.colormaps["tab10"].colors)
    all_points: list[tuple[float, float]] = []
    for name, rows in groups:
        pts = [(xval(r), r["tokens_per_s"]) for r in rows if xval(r) is not None]
        color = next(colors)
        if not pts:
            continue
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], color=color, alpha=0.75, label=f"{name} layouts",
                   zorder=3)
        ax.scatter([pts[0][0]], [pts[0][1]], marker="*", s=220, color=color, edgecolor="black", zorder=4,
                   label=f"{name} rank 1")
        all_points += pts
    if not all_points:
        raise ValueError("no layout has a cost: the system has no price_usd_per_chip_hour (use x='memory' or "
                         "--set price_usd_per_chip_hour=VALUE)" if x == "cost" else "no layouts to plot")
    front = _pareto(all_points)
    ax.step([all_points[i][0] for i in front], [all_points[i][1] for i in front], where="post", color="black",
            linewidth=1, alpha=0.6, label="Pareto front", zorder=2)
    if x == "memory" and kind == "search" and result["results"]:
        cap = result["results"][0]["memory"].get("capacity_bytes_per_chip", 0.0) / GB
        if cap > 0:
            ax.axvline(cap, color="#d62728", linestyle=":", label="HBM capacity")
    ax.set_xlabel("memory per chip (GB)" if x == "memory" else "cost ($ per million tokens)")
    ax.set_ylabel("tokens/s")
    ax.set_title(title or f"Layouts: tokens/s against {'memory' if x == 'memory' else 'cost'}")
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    return fig


_SERVING_METRICS = [
    ("output tokens/s per chip", "measured_output_tokens_per_s_per_chip", "predicted_output_tokens_per_s_per_chip",
     "throughput_mape_pct"),
    ("TTFT (s)", "measured_ttft_s", "predicted_ttft_s", "ttft_mape_pct"),
    ("TPOT (s)", "measured_tpot_s", "predicted_tpot_s", "tpot_mape_pct"),
]


def validation(result: Any, band_pct: float | None = None, title: str | None = None) -> Figure:
    """Predicted against measured for `tahoma validate FILE --format json` (training or serving files), log-log,
    one colour per hardware family, with y = x and a shaded error band of +-band_pct % (default: the file's
    mean absolute error). A serving file gets one panel per metric it measured (throughput, TTFT, TPOT)."""
    result = _load(result)
    if _kind(result) != "validate":
        raise ValueError("validation takes the JSON of tahoma validate FILE --format json")
    serving = result.get("kind") == "serving"
    rows = [r for r in result["rows"] if r.get("simulated")]
    if serving:
        metrics = [m for m in _SERVING_METRICS if any(r.get(m[1]) and r.get(m[2]) for r in rows)]
    else:
        metrics = [("tokens/s per chip", "measured_tokens_per_s_per_chip", "predicted_tokens_per_s_per_chip",
                    "mape_pct")]
    if not metrics or not rows:
        raise ValueError("no simulated rows to plot")
    fig = _figure(5.0 * len(metrics) + 1.5, 5.0)
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    families = sorted({r.get("family", "") for r in rows})
    color_of = dict(zip(families, matplotlib.colormaps["tab10"].colors))
    summary = result.get("summary", {})
    for ax, (label, measured_key, predicted_key, mape_key) in zip(axes, metrics):
        pts = [(r[measured_key], r[predicted_key], r.get("family", "")) for r in rows
               if r.get(measured_key) and r.get(predicted_key)]
        lo = min(min(p[0], p[1]) for p in pts) / 1.5
        hi = max(max(p[0], p[1]) for p in pts) * 1.5
        band = band_pct if band_pct is not None else summary.get(mape_key, 10.0)
        xs = [lo * (hi / lo) ** (k / 50) for k in range(51)]
        ax.fill_between(xs, [v * (1 - band / 100) for v in xs], [v * (1 + band / 100) for v in xs],
                        color="#2ca02c", alpha=0.15, label=f"±{band:.1f}%")
        ax.plot([lo, hi], [lo, hi], color="black", linewidth=1, label="predicted = measured")
        for family in families:
            fp = [p for p in pts if p[2] == family]
            if fp:
                ax.scatter([p[0] for p in fp], [p[1] for p in fp], s=22, color=color_of[family],
                           label=f"{family} ({len(fp)})", zorder=3, alpha=0.85)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal")
        ax.set_xlabel(f"measured {label}")
        ax.set_ylabel(f"predicted {label}")
        mape = summary.get(mape_key)
        ax.set_title(f"{label}: MAPE {mape:.1f}%, {len(pts)} rows" if mape is not None else label, fontsize=10)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(title or f"Predicted against measured ({'serving' if serving else 'training'})")
    return fig


def serving_latency(results: Any, title: str | None = None) -> Figure:
    """Serving latency percentiles (p50, p90, p99) of TTFT and TPOT against load: `results` is a list of
    `tahoma serve --rate R --format json` results (or one). The x axis is the offered Poisson rate (requests/s;
    the achieved rate for closed-loop or offline runs); a latency target (--slo-ttft/--slo-tpot) is drawn."""
    rows = [r for r in (_load(x) for x in _as_list(_load(results)))]
    for r in rows:
        if _kind(r) != "serve":
            raise ValueError("serving_latency takes tahoma serve results (--format json)")
    rows = [r for r in rows if r.get("servable", True)]
    if not rows:
        raise ValueError("no servable result to plot")

    def load(r: Mapping[str, Any]) -> float:
        return r.get("requests", {}).get("rate") or r["throughput"]["requests_per_s"]

    rows.sort(key=load)
    loads = [load(r) for r in rows]
    fig = _figure(10.0, 4.2)
    axes = fig.subplots(1, 2)
    styles = {"p50": "o-", "p90": "s--", "p99": "^-"}
    for ax, key, name, slo_key in ((axes[0], "ttft_s", "TTFT", "ttft_s"), (axes[1], "tpot_s", "TPOT", "tpot_s")):
        values = [r[key] for r in rows]
        scale, unit = _time_unit(max(v["p99"] for v in values))
        for pct, style in styles.items():
            ax.plot(loads, [v[pct] * scale for v in values], style, label=pct)
        slo = rows[0].get("slo") or {}
        if slo.get(slo_key):
            ax.axhline(slo[slo_key] * scale, color="#d62728", linestyle=":", label=f"target {name}")
        ax.set_xlabel("load (requests/s)")
        ax.set_ylabel(f"{name} ({unit})")
        ax.set_ylim(bottom=0)
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    r0 = rows[0]
    fig.suptitle(title or f"Serving latency against load: {r0.get('model', '')} on {r0.get('system', '')}")
    return fig


def serving_search(result: Any, title: str | None = None) -> Figure:
    """`tahoma search --serve` results: output tokens/s per chip at each layout's highest rate within the SLO
    against its p99 TPOT (left) and p99 TTFT (right), one point per ranked layout, the winner marked and the
    layouts no other beats on both throughput and that latency joined (the Pareto front)."""
    r = _load(result)
    if _kind(r) != "search-serve":
        raise ValueError("serving_search takes tahoma search --serve results (--format json)")
    rows = [x for x in r.get("results", []) if x.get("output_tokens_per_s_per_chip") is not None]
    if not rows:
        raise ValueError("no ranked layout to plot")
    fig = _figure(10.0, 4.2)
    axes = fig.subplots(1, 2)
    tput = [float(x["output_tokens_per_s_per_chip"]) for x in rows]
    for ax, key, name in ((axes[0], "tpot_s", "TPOT"), (axes[1], "ttft_s", "TTFT")):
        lat = [float(x[key]["p99"]) for x in rows]
        scale, unit = _time_unit(max(lat))
        xs = [v * scale for v in lat]
        ax.scatter(xs, tput, s=18, color="#1f77b4", label="layouts")
        best = min(range(len(rows)), key=lambda i: rows[i].get("rank", i + 1))
        ax.scatter([xs[best]], [tput[best]], s=80, marker="*", color="#d62728", label="rank 1", zorder=3)
        front = _pareto(list(zip(xs, tput)))  # lower latency and higher throughput
        ax.plot([xs[i] for i in front], [tput[i] for i in front], "--", color="#ff7f0e", label="Pareto front")
        ax.set_xlabel(f"p99 {name} ({unit})")
        ax.set_ylabel("output tokens/s per chip")
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title or f"Serving layouts: {r.get('model', '')} on {r.get('chips', '')} x {r.get('system', '')}")
    return fig


# ----------------------------------------------------------------------------------------------- output
def to_svg(fig: Figure, salt: str = "tahoma") -> str:
    """The figure as SVG text for inlining in HTML: text kept as text (no font files), no XML prolog or
    DOCTYPE, no metadata or date, every element id prefixed by `salt` (two inline SVGs in one page must not
    share ids: matplotlib numbers figure_1, axes_1... the same in every figure)."""
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    text = text[max(0, text.find("<svg")):]
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text, count=1, flags=re.S)  # RDF creator block
    # Group ids (figure_1, axes_1, ...) repeat in every figure: prefix every id and every reference to one.
    prefix = re.sub(r"[^A-Za-z0-9_-]", "-", salt)
    text = re.sub(r'\bid="([^"]+)"', rf'id="{prefix}-\1"', text)
    text = re.sub(r"url\(#([^)]+)\)", rf"url(#{prefix}-\1)", text)
    return re.sub(r'href="#([^"]+)"', rf'href="#{prefix}-\1"', text)
