"""One self-contained HTML report of a Tahoma result (issue 17 item 3).

`tahoma report KIND ... -o report.html` runs the command, then this module; it also runs on its own:

    /usr/bin/python3 python/tahoma/report.py RESULT.json [--trace TRACE.json] [--command CMD] -o report.html
    html = tahoma.report.render(result_dict, trace=trace_dict)          # from Python

RESULT.json is the JSON of `tahoma simulate | search | compare | validate | serve --format json`, or a JSON list of
simulate results at several chip counts (a scaling report) or of serve results at several rates (latency against
load). The page holds the plots (plots.py, inline SVG), the tables, the assumptions the result states and the
command that reproduces it, plus the full JSON; it references nothing outside itself (no scripts, fonts, images or
styles from the network), so it opens offline. Same input, same bytes: nothing time-dependent is written.

Exit status of the command line: 0 written, 2 bad input or missing matplotlib (the message says what to install).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import sys
from typing import Any, Callable, Mapping, Sequence

EXIT_INPUT = 2


def _plots():
    """plots.py beside this file, whether this runs as tahoma.report or as a script by path."""
    if __package__:
        from . import plots  # noqa: PLC0415
    else:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import plots  # noqa: PLC0415
    return plots


# ----------------------------------------------------------------------------------------------- kinds
def detect_kind(result: Any) -> str:
    """simulate, search, search-serve, compare, validate, validate-serving, serve, scaling (a list of simulate
    results) or serve-sweep (a list of serve results). ValueError for anything else."""
    if isinstance(result, list):
        if result and all(isinstance(r, Mapping) for r in result):
            kinds = {detect_kind(r) for r in result}
            if kinds == {"simulate"}:
                return "scaling"
            if kinds == {"serve"}:
                return "serve-sweep"
        raise ValueError("a JSON list must hold simulate results (a scaling report) or serve results (latency "
                         "against load)")
    if not isinstance(result, Mapping):
        raise ValueError("expected a JSON object printed by tahoma ... --format json")
    if isinstance(result.get("systems"), list):
        return "compare"
    if "results" in result and "considered" in result:
        return "search-serve" if "max_candidates" in result else "search"
    if "breakdown" in result and "step_time_s" in result and "config" in result:
        return "simulate"
    if "rows" in result and "summary" in result:
        return "validate-serving" if result.get("kind") == "serving" else "validate"
    if "ttft_s" in result and "throughput" in result:
        return "serve"
    raise ValueError("not a Tahoma result: expected the JSON of tahoma simulate, search, compare, validate or serve "
                     f"--format json (top-level keys: {', '.join(sorted(result)[:10])})")


# ----------------------------------------------------------------------------------------------- formatting
def _num(x: Any, digits: int = 4) -> str:
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        if x != x:
            return "nan"
        if abs(x) >= 1e5:
            return f"{x:,.0f}"
        return f"{x:.{digits}g}"
    return str(x)


def _pct(x: Any) -> str:
    return "-" if x is None else f"{100.0 * x:.1f}%"


def _err(x: Any) -> str:
    return "-" if x is None else f"{x:+.1f}%"


def _gb(x: Any) -> str:
    return "-" if x is None else f"{x / 1e9:.1f} GB"


def _seconds(x: Any) -> str:
    if x is None:
        return "-"
    if abs(x) < 1e-3:
        return f"{x * 1e6:.3g} us"
    if abs(x) < 1.0:
        return f"{x * 1e3:.3g} ms"
    return f"{x:.4g} s"


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], numeric_from: int = 1, cls: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = "".join(f'<td class="{"num" if i >= numeric_from else ""}">{_e(c)}</td>' for i, c in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _cards(items: Sequence[tuple[str, str]]) -> str:
    cards = "".join(f'<div class="card"><div class="k">{_e(k)}</div><div class="v">{_e(v)}</div></div>'
                    for k, v in items)
    return f'<div class="cards">{cards}</div>'


class _Page:
    """Sections of the page, in order; figures are rendered to inline SVG as they are added."""

    def __init__(self, plots):
        self.plots = plots
        self.sections: list[str] = []
        self.figures = 0
        self.notes: list[str] = []

    def section(self, title: str, body: str) -> None:
        self.sections.append(f"<section><h2>{_e(title)}</h2>{body}</section>")

    def figure(self, name: str, caption: str, make: Callable[[], Any]) -> str:
        """A plot as <figure class="plot">; a plot that cannot be drawn from this result is said, not fatal."""
        try:
            fig = make()
        except ValueError as e:
            self.notes.append(f"{caption}: not drawn ({e})")
            return ""
        self.figures += 1
        svg = self.plots.to_svg(fig, salt=f"{name}-{self.figures}")
        return (f'<figure class="plot" data-plot="{_e(name)}">{svg}'
                f"<figcaption>{_e(caption)}</figcaption></figure>")


# ----------------------------------------------------------------------------------------------- sections
def _layout(plan: Mapping[str, Any]) -> str:
    return _plots().layout_label(plan)


def _simulate(page: _Page, r: Mapping[str, Any], trace: Any) -> str:
    p = page.plots
    cfg = r.get("config", {})
    plan = cfg.get("plan", {})
    mem = r.get("memory", {})
    energy = r.get("energy", {})
    title = f"{cfg.get('model_ref', '')} on {cfg.get('chips', '')} x {cfg.get('system_ref', '')}"
    page.section("Result", _cards([
        ("step time", _seconds(r.get("step_time_s"))),
        ("tokens/s", _num(r.get("tokens_per_s"))),
        ("tokens/s per chip", _num(r.get("tokens_per_s_per_chip"))),
        ("MFU", _pct(r.get("mfu"))),
        ("HFU", _pct(r.get("hfu"))),
        ("memory per chip", f"{_gb(mem.get('peak_bytes_per_chip'))} of {_gb(mem.get('capacity_bytes_per_chip'))}"),
        ("fits", "yes" if r.get("fits") else "NO"),
        ("power per chip", f"{_num(energy.get('power_watts_per_chip'), 3)} W"),
        ("kWh per M tokens", _num(energy.get("kwh_per_million_tokens"), 3)),
        ("$ per M tokens", _num(r.get("cost_usd_per_million_tokens"), 3)),
    ]) + f"<p>Layout {_e(_layout(plan))}, schedule {_e(plan.get('pp_schedule', ''))}, stack "
         f"{_e(r.get('stack', ''))}, {_e(r.get('engine', ''))} engine, {_e(r.get('network', ''))} network, "
         f"{_num(r.get('microbatches'))} micro-batches, {_num(r.get('tasks'))} tasks.</p>")
    figs = page.figure("step_breakdown", "Where the step's time goes (exposed communication per parallel group).",
                       lambda: p.step_breakdown(r))
    figs += page.figure("memory", "Memory per chip by kind against the HBM capacity.", lambda: p.memory(r))
    if trace is not None:
        figs += page.figure("pipeline_timeline", "The event engine's tasks of one step, per pipeline stage and "
                            "stream (tahoma simulate --trace).", lambda: p.pipeline_timeline(trace))
    page.section("Plots", figs)
    b = r.get("breakdown", {})
    step = r.get("step_time_s") or 1.0
    rows = [("compute", b.get("compute_s"))]
    rows += [(f"exposed {g} communication", v) for g, v in sorted(b.get("exposed_comm_by_group_s", {}).items())]
    rows += [("pipeline bubble", b.get("bubble_s")), ("optimizer", b.get("optimizer_s")),
             ("host bound", b.get("host_bound_s")), ("offload bound", b.get("offload_bound_s"))]
    breakdown = _table(["component", "time", "share of step"],
                       [(n, _seconds(v), _pct((v or 0.0) / step)) for n, v in rows if v])
    comm = _table(["name", "collective", "group", "size", "algorithm", "calls/step", "bytes/step", "time/step"],
                  [(c.get("name"), c.get("collective"), c.get("group"), c.get("group_size"), c.get("algorithm"),
                    c.get("calls_per_step"), _gb(c.get("bytes_per_step")), _seconds(c.get("time_per_step_s")))
                   for c in r.get("communication", [])], numeric_from=5)
    memory = _table(["kind", "bytes per chip"],
                    [(k.replace("_bytes", "").replace("_", " "), _gb(v)) for k, v in mem.items()
                     if k.endswith("_bytes") and v])
    page.section("Tables", f"<h3>Step breakdown</h3>{breakdown}<h3>Communication</h3>{comm}"
                           f"<h3>Memory per chip (peak stage {_num(mem.get('peak_stage'))})</h3>{memory}")
    facts = [f"MFU convention: {r.get('mfu_convention', '')}"]
    if r.get("layout_source") == "searched":
        facts.insert(0, f"Layout searched: {r.get('layout_note', '')}")
    _assumptions(page, r.get("warnings", []), facts)
    return title


def _search_rows_table(rows: Sequence[Mapping[str, Any]]) -> str:
    return _table(["rank", "layout", "step time", "tokens/s", "tokens/s per chip", "MFU", "memory per chip", "fits",
                   "$ per M tokens"],
                  [(i, _layout(x.get("layout", {})), _seconds(x.get("step_time_s")), _num(x.get("tokens_per_s")),
                    _num(x.get("tokens_per_s_per_chip")), _pct(x.get("mfu")),
                    _gb(x.get("memory", {}).get("peak_bytes_per_chip")), _num(x.get("memory", {}).get("fits")),
                    _num(x.get("cost_usd_per_million_tokens"), 3)) for i, x in enumerate(rows, start=1)],
                  numeric_from=2)


def _search(page: _Page, r: Mapping[str, Any]) -> str:
    p = page.plots
    results = r.get("results", [])
    best = results[0] if results else {}
    rejected = r.get("rejected", {})
    page.section("Result", _cards([
        ("layouts considered", _num(r.get("considered"))),
        ("priced", _num(r.get("priced"))),
        ("rejected", _num(sum(rejected.values()))),
        ("objective", str(r.get("objective", ""))),
        ("best tokens/s", _num(best.get("tokens_per_s"))),
        ("best MFU", _pct(best.get("mfu"))),
        ("best layout", _layout(best.get("layout", {}))),
    ]) + (f"<p>{_e(r.get('why', ''))}</p>" if r.get("why") else ""))
    top = {**r, "results": results[:10]}
    figs = page.figure("search_pareto", "Every reported layout: tokens/s against memory per chip, with the Pareto "
                       "front.", lambda: p.search_pareto(r, x="memory"))
    if any(x.get("cost_usd_per_million_tokens") is not None for x in results):
        figs += page.figure("search_pareto_cost", "Tokens/s against cost per million tokens.",
                            lambda: p.search_pareto(r, x="cost"))
    figs += page.figure("step_breakdown", "Step time of the best ten layouts.", lambda: p.step_breakdown(top))
    figs += page.figure("memory", "Memory per chip of the best ten layouts.", lambda: p.memory(top))
    page.section("Plots", figs)
    page.section("Tables", "<h3>Ranked layouts</h3>" + _search_rows_table(results) +
                 "<h3>Rejected layouts</h3>" +
                 _table(["reason", "layouts"], sorted(rejected.items(), key=lambda kv: -kv[1])))
    if best.get("simulate"):
        page.notes.append(f"The winner alone: {best['simulate']}")
    _assumptions(page, [], [])
    return f"search: {r.get('model', '')} on {r.get('chips', '')} x {r.get('system', '')}"


def _compare(page: _Page, r: Mapping[str, Any]) -> str:
    p = page.plots
    systems = r.get("systems", [])
    rows = []
    for s in systems:
        b = (s.get("results") or [{}])[0]
        rows.append((s.get("system"), _layout(b.get("layout", {})), _seconds(b.get("step_time_s")),
                     _num(b.get("tokens_per_s")), _num(b.get("tokens_per_s_per_chip")), _pct(b.get("mfu")),
                     _gb(b.get("memory", {}).get("peak_bytes_per_chip")),
                     _gb(b.get("memory", {}).get("capacity_bytes_per_chip")),
                     _num(b.get("cost_usd_per_million_tokens"), 3), _num(b.get("energy_kwh_per_million_tokens"), 3)))
    page.section("Result", _table(["system", "best layout", "step time", "tokens/s", "tokens/s per chip", "MFU",
                                   "memory per chip", "capacity", "$ per M tokens", "kWh per M tokens"], rows,
                                  numeric_from=2))
    figs = page.figure("step_breakdown", "Step time of each system's best layout.", lambda: p.step_breakdown(r))
    figs += page.figure("memory", "Memory per chip of each system's best layout.", lambda: p.memory(r))
    figs += page.figure("search_pareto", "Every reported layout of every system: tokens/s against memory per chip.",
                        lambda: p.search_pareto(r, x="memory"))
    page.section("Plots", figs)
    page.section("Tables", "".join(f"<h3>{_e(s.get('system'))}: {_num(s.get('considered'))} layouts considered</h3>"
                                   + _search_rows_table(s.get("results", [])) for s in systems))
    _assumptions(page, [], [])
    first = systems[0] if systems else {}
    return (f"compare: {first.get('model', '')} on {first.get('chips', '')} chips of "
            f"{', '.join(str(s.get('system')) for s in systems)}")


def _validation_assumptions(rows: Sequence[Mapping[str, Any]]) -> str:
    """Each (field, rule) the rows had to assume, with how many rows assumed it."""
    counts: dict[tuple[str, str], int] = {}
    for row in rows:
        for a in row.get("assumptions", []):
            key = (a.get("field", ""), a.get("rule", ""))
            counts[key] = counts.get(key, 0) + 1
    return _table(["field", "rule", "rows"], [(f, rule, n) for (f, rule), n in sorted(counts.items())],
                  numeric_from=2)


def _validation_page(page: _Page, r: Mapping[str, Any], cards: Sequence[tuple[str, str]], caption: str,
                     tables: str) -> None:
    """A validate result's sections: the row counts and `cards`, the predicted-against-measured plot,
    `tables`, and what the simulated rows assumed where their source is silent."""
    s = r.get("summary", {})
    page.section("Result", _cards([("rows simulated", _num(s.get("simulated"))),
                                   ("rows skipped", _num(s.get("skipped"))), *cards]))
    page.section("Plots", page.figure("validation", caption, lambda: page.plots.validation(r)))
    page.section("Tables", tables)
    sim = [x for x in r.get("rows", []) if x.get("simulated")]
    _assumptions(page, [], [], extra=("<h3>What the rows assumed where the source is silent</h3>" +
                                      _validation_assumptions(sim)))


def _validate(page: _Page, r: Mapping[str, Any]) -> str:
    s = r.get("summary", {})
    rows = r.get("rows", [])
    fam = _table(["family", "rows", "MAPE", "max |error|"],
                 [(f.get("family"), f.get("simulated"), _err(f.get("mape_pct")).lstrip("+"),
                   _err(f.get("max_abs_err_pct")).lstrip("+")) for f in s.get("families", [])])
    fw = _table(["framework", "rows", "MAPE", "max |error|"],
                [(f.get("framework"), f.get("simulated"), _err(f.get("mape_pct")).lstrip("+"),
                  _err(f.get("max_abs_err_pct")).lstrip("+")) for f in s.get("frameworks", [])])
    table = _table(["id", "system", "chips", "stack", "layout", "measured tokens/s/chip", "predicted", "error"],
                   [(x.get("id"), x.get("system"), x.get("chips"), x.get("stack", ""),
                     _layout(x.get("layout", {})), _num(x.get("measured_tokens_per_s_per_chip")),
                     _num(x.get("predicted_tokens_per_s_per_chip")), _err(x.get("error_pct")))
                    for x in rows if x.get("simulated")],
                   numeric_from=5)
    skipped = _table(["id", "system", "reason"], [(x.get("id"), x.get("system"), x.get("reason", x.get(
        "skip_reason", ""))) for x in rows if not x.get("simulated")], numeric_from=3)
    _validation_page(page, r, [
        ("MAPE", _err(s.get("mape_pct")).lstrip("+")),
        ("median |error|", _err(s.get("median_abs_err_pct")).lstrip("+")),
        ("max |error|", f"{_err(s.get('max_abs_err_pct')).lstrip('+')} ({s.get('max_row', '')})"),
        ("mean signed error", _err(s.get("mean_signed_err_pct"))),
    ], "Predicted against measured tokens/s per chip; the band is the mean absolute error.",
        f"<h3>By hardware family</h3>{fam}<h3>By framework</h3>{fw}<h3>Rows</h3>{table}"
        f"<h3>Skipped rows</h3>{skipped}")
    return f"validate: {os.path.basename(str(r.get('file', '')))}"


def _validate_serving(page: _Page, r: Mapping[str, Any]) -> str:
    s = r.get("summary", {})
    rows = r.get("rows", [])

    def groups(d: Mapping[str, Any], name: str) -> str:
        return _table([name, "rows", "throughput MAPE", "TTFT MAPE", "TPOT MAPE"],
                      [(k, v.get("simulated"), _err(v.get("throughput_mape_pct")).lstrip("+"),
                        _err(v.get("ttft_mape_pct")).lstrip("+") if v.get("ttft_rows") else "-",
                        _err(v.get("tpot_mape_pct")).lstrip("+") if v.get("tpot_rows") else "-")
                       for k, v in sorted(d.items())])

    table = _table(["id", "system", "chips", "stack", "scenario", "measured tok/s/chip", "predicted", "error",
                    "TTFT error", "TPOT error"],
                   [(x.get("id"), x.get("system"), x.get("chips"), x.get("stack"), x.get("scenario"),
                     _num(x.get("measured_output_tokens_per_s_per_chip")),
                     _num(x.get("predicted_output_tokens_per_s_per_chip")), _err(x.get("throughput_error_pct")),
                     _err(x.get("ttft_error_pct")), _err(x.get("tpot_error_pct")))
                    for x in rows if x.get("simulated")], numeric_from=5)
    skipped = _table(["id", "reason"], [(x.get("id"), x.get("skip_reason", "")) for x in rows
                                        if not x.get("simulated")], numeric_from=2)
    _validation_page(page, r, [
        ("throughput MAPE", _err(s.get("throughput_mape_pct")).lstrip("+")),
        ("TTFT MAPE", f"{_err(s.get('ttft_mape_pct')).lstrip('+')} ({_num(s.get('ttft_rows'))} rows)"),
        ("TPOT MAPE", f"{_err(s.get('tpot_mape_pct')).lstrip('+')} ({_num(s.get('tpot_rows'))} rows)"),
    ], "Predicted against measured output tokens/s per chip, TTFT and TPOT; the band is each metric's mean "
       "absolute error.",
        f"<h3>By hardware family</h3>{groups(r.get('families', {}), 'family')}"
        f"<h3>By framework</h3>{groups(r.get('frameworks', {}), 'framework')}<h3>Rows</h3>{table}"
        f"<h3>Skipped rows</h3>{skipped}")
    return f"validate (serving): {os.path.basename(str(r.get('file', '')))}"


def _latency_table(r: Mapping[str, Any]) -> str:
    return _table(["", "mean", "p50", "p90", "p99"],
                  [(name, *(_seconds(r.get(key, {}).get(k)) for k in ("mean", "p50", "p90", "p99")))
                   for name, key in (("TTFT", "ttft_s"), ("TPOT", "tpot_s"), ("end to end", "latency_s"))])


def _serve(page: _Page, r: Mapping[str, Any]) -> str:
    p = page.plots
    t = r.get("throughput", {})
    e = r.get("energy", {})
    layout = r.get("layout", {})
    page.section("Result", _cards([
        ("servable", "yes" if r.get("servable", True) else f"NO: {r.get('reason', '')}"),
        ("output tokens/s", _num(t.get("output_tokens_per_s"))),
        ("per chip", _num(t.get("output_tokens_per_s_per_chip"))),
        ("requests/s", _num(t.get("requests_per_s"))),
        ("TTFT p99", _seconds(r.get("ttft_s", {}).get("p99"))),
        ("TPOT p99", _seconds(r.get("tpot_s", {}).get("p99"))),
        ("J per output token", _num(e.get("joules_per_output_token"), 3)),
        ("$ per M output tokens", _num((r.get("cost") or {}).get("usd_per_million_output_tokens"), 3)),
    ]) + f"<p>TP {_e(layout.get('tp'))} x PP {_e(layout.get('pp'))} x EP {_e(layout.get('ep'))}, "
         f"{_e(layout.get('replicas'))} replicas on {_e(layout.get('chips_used'))} chips; stack "
         f"{_e(r.get('engine', {}).get('stack', ''))}; requests {_e(r.get('requests', {}).get('kind', ''))}.</p>")
    if r.get("servable", True):
        page.section("Plots", page.figure("serving_latency", "Latency percentiles at this load (a list of serve "
                                          "results at several rates draws the curve).",
                                          lambda: p.serving_latency(r)))
    engine = _table(["knob", "value"], sorted((k, _num(v)) for k, v in r.get("engine", {}).items()))
    memory = _table(["", "value"], sorted((k, _num(v)) for k, v in r.get("memory", {}).items()))
    page.section("Tables", f"<h3>Latency</h3>{_latency_table(r)}<h3>Engine</h3>{engine}<h3>Memory</h3>{memory}")
    _assumptions(page, r.get("warnings", []), [])
    return f"serve: {r.get('model', '')} on {r.get('system', '')}"


def _scaling(page: _Page, rs: Sequence[Mapping[str, Any]]) -> str:
    p = page.plots
    rs = sorted(rs, key=lambda x: x.get("config", {}).get("chips", 0))
    page.section("Plots", page.figure("scaling", "Tokens/s and MFU against chips.", lambda: p.scaling(rs)) +
                 page.figure("step_breakdown", "Step time at each chip count.", lambda: p.step_breakdown(rs)))
    page.section("Tables", _table(["chips", "layout", "step time", "tokens/s", "tokens/s per chip", "MFU",
                                   "memory per chip"],
                                  [(x["config"].get("chips"), _layout(x["config"].get("plan", {})),
                                    _seconds(x.get("step_time_s")), _num(x.get("tokens_per_s")),
                                    _num(x.get("tokens_per_s_per_chip")), _pct(x.get("mfu")),
                                    _gb(x.get("memory", {}).get("peak_bytes_per_chip"))) for x in rs],
                                  numeric_from=2))
    _assumptions(page, sorted({w for x in rs for w in x.get("warnings", [])}), [])
    cfg = rs[0].get("config", {}) if rs else {}
    return f"scaling: {cfg.get('model_ref', '')} on {cfg.get('system_ref', '')}"


def _serve_sweep(page: _Page, rs: Sequence[Mapping[str, Any]]) -> str:
    p = page.plots
    page.section("Plots", page.figure("serving_latency", "TTFT and TPOT percentiles against the offered load.",
                                      lambda: p.serving_latency(rs)))
    page.section("Tables", _table(["rate (req/s)", "achieved req/s", "output tok/s per chip", "TTFT p50",
                                   "TTFT p99", "TPOT p50", "TPOT p99"],
                                  [(_num(x.get("requests", {}).get("rate")),
                                    _num(x.get("throughput", {}).get("requests_per_s")),
                                    _num(x.get("throughput", {}).get("output_tokens_per_s_per_chip")),
                                    _seconds(x.get("ttft_s", {}).get("p50")), _seconds(x.get("ttft_s", {}).get("p99")),
                                    _seconds(x.get("tpot_s", {}).get("p50")), _seconds(x.get("tpot_s", {}).get("p99")))
                                   for x in rs], numeric_from=0))
    _assumptions(page, sorted({w for x in rs for w in x.get("warnings", [])}), [])
    r0 = rs[0] if rs else {}
    return f"serving against load: {r0.get('model', '')} on {r0.get('system', '')}"


def _search_serve(page: _Page, r: Mapping[str, Any]) -> str:
    p = page.plots
    best = r.get("best") or {}
    page.section("Result", _cards([
        ("best layout", best.get("flags", "-")),
        ("output tok/s per chip", _num(best.get("output_tokens_per_s_per_chip"))),
        ("requests/s", _num(best.get("requests_per_s"))),
        ("highest rate in the SLO", _num(best.get("slo_rate"))),
        ("TTFT p99", _seconds(best.get("ttft_s", {}).get("p99"))),
        ("TPOT p99", _seconds(best.get("tpot_s", {}).get("p99"))),
        ("layouts", f"{_num(r.get('simulated'))} simulated of {_num(r.get('considered'))}"),
    ]) + f"<p>Objective: {_e(r.get('objective', ''))}; stack {_e(r.get('stack', ''))}.</p>")
    if r.get("results"):
        page.section("Plots", page.figure("serving_search", "Output tokens/s per chip of each ranked layout against "
                                          "its p99 TPOT and TTFT; the star is rank 1.", lambda: p.serving_search(r)))
    table = _table(["rank", "layout", "replicas", "chips", "output tok/s per chip", "requests/s", "SLO rate",
                    "TTFT p99", "TPOT p99", "KV tokens per instance"],
                   [(x.get("rank"), x.get("flags"), x.get("layout", {}).get("replicas"), x.get("chips_used"),
                     _num(x.get("output_tokens_per_s_per_chip")), _num(x.get("requests_per_s")),
                     _num(x.get("slo_rate")), _seconds(x.get("ttft_s", {}).get("p99")),
                     _seconds(x.get("tpot_s", {}).get("p99")), _num(x.get("instance_kv_tokens")))
                    for x in r.get("results", [])], numeric_from=2)
    rejected = _table(["why", "layouts"], sorted((r.get("rejected") or {}).items()), numeric_from=1)
    page.section("Tables", f"<h3>Ranked layouts</h3>{table}<h3>Rejected layouts</h3>{rejected}")
    if best.get("reproduce"):
        page.notes.append(f"The winner alone: {best['reproduce']}")
    facts = [f"{_num(r.get('skipped_over_cap'))} layouts beyond the candidate cap ({_num(r.get('max_candidates'))}) "
             "were not simulated"] if r.get("skipped_over_cap") else []
    _assumptions(page, [], facts)
    return f"serving layouts: {r.get('model', '')} on {r.get('chips', '')} x {r.get('system', '')}"


def _assumptions(page: _Page, warnings: Sequence[str], facts: Sequence[str], extra: str = "") -> None:
    items = [f"<li class='warn'>{_e(w)}</li>" for w in warnings] + [f"<li>{_e(f)}</li>" for f in facts]
    body = f"<ul>{''.join(items)}</ul>" if items else "<p>The result states no warnings.</p>"
    page.section("Assumptions and warnings", body + extra)


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;margin:0;color:#222;background:#fff}
header{background:#1f3b57;color:#fff;padding:16px 28px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;opacity:.85;font-size:13px}main{padding:8px 28px 40px;max-width:1400px}
h2{border-bottom:2px solid #1f3b57;padding-bottom:4px;margin-top:28px;font-size:18px}h3{font-size:15px;margin:18px 0 6px}
.cards{display:flex;flex-wrap:wrap;gap:10px}.card{border:1px solid #d5dde5;border-radius:6px;padding:8px 12px;min-width:120px}
.card .k{font-size:11px;color:#567;text-transform:uppercase;letter-spacing:.04em}.card .v{font-size:17px;font-weight:600}
figure.plot{margin:14px 0;padding:8px;border:1px solid #e3e8ee;border-radius:6px;display:inline-block;max-width:100%}
figure.plot svg{max-width:100%;height:auto;display:block}figcaption{font-size:13px;color:#456;margin-top:4px}
table{border-collapse:collapse;font-size:12.5px;margin:6px 0}th,td{border:1px solid #d5dde5;padding:3px 8px;text-align:left}
th{background:#f0f4f8}td.num{text-align:right;font-variant-numeric:tabular-nums}
pre{background:#f6f8fa;border:1px solid #e3e8ee;padding:10px;overflow-x:auto;font-size:12px;white-space:pre-wrap}
li.warn{color:#9a3412}details summary{cursor:pointer;font-weight:600}
"""

# Sets data-plots-rendered="drawn/total" on <body> once the page is loaded (each inline SVG has a size) and
# data-tahoma-error on <html> if any script error happens: the browser test reads both from the DOM.
_SCRIPT = """
window.addEventListener('error', function (e) {
  document.documentElement.setAttribute('data-tahoma-error', String(e.message || e));
});
window.addEventListener('load', function () {
  var figures = document.querySelectorAll('figure.plot');
  var drawn = 0;
  figures.forEach(function (f) {
    var svg = f.querySelector('svg');
    if (svg && svg.getBoundingClientRect().width > 0 && svg.getBoundingClientRect().height > 0) drawn++;
  });
  document.body.setAttribute('data-plots-rendered', drawn + '/' + figures.length);
});
"""


def render(result: Any, kind: str | None = None, trace: Any = None, command: str | None = None,
           title: str | None = None) -> str:
    """The HTML page of `result` (the dict/list the CLI prints as JSON). `trace`: the Chrome trace of a simulate
    result (adds the pipeline timeline). `command`: the command line that reproduces the result."""
    kind = kind or detect_kind(result)
    page = _Page(_plots())
    builders = {
        "simulate": lambda: _simulate(page, result, trace),
        "search": lambda: _search(page, result),
        "compare": lambda: _compare(page, result),
        "validate": lambda: _validate(page, result),
        "validate-serving": lambda: _validate_serving(page, result),
        "serve": lambda: _serve(page, result),
        "scaling": lambda: _scaling(page, result),
        "serve-sweep": lambda: _serve_sweep(page, result),
        "search-serve": lambda: _search_serve(page, result),
    }
    if kind not in builders:
        raise ValueError(f"kind '{kind}': expected one of {', '.join(builders)}")
    derived_title = builders[kind]()  # fills the page's sections
    heading = title or derived_title
    reproduce = []
    if command:
        reproduce.append(f"<pre>{_e(command)}</pre>")
    reproduce += [f"<p>{_e(n)}</p>" for n in page.notes]
    if not reproduce:
        reproduce.append("<p>The JSON below holds the fully resolved configuration.</p>")
    page.section("Reproduce", "".join(reproduce) +
                 "<details><summary>The result as JSON (with the resolved configuration)</summary><pre>" +
                 _e(json.dumps(result, indent=1, sort_keys=True)) + "</pre></details>")
    import matplotlib  # noqa: PLC0415

    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Tahoma: {_e(heading)}"
            f"</title><style>{_CSS}</style></head>\n<body data-kind=\"{_e(kind)}\" data-plots=\"{page.figures}\">"
            f"<header><h1>Tahoma: {_e(heading)}</h1><p>{_e(kind)} report, {page.figures} plots "
            f"(matplotlib {_e(matplotlib.__version__)})</p></header><main>\n" + "\n".join(page.sections) +
            f"\n</main><script>{_SCRIPT}</script></body></html>\n")


# ----------------------------------------------------------------------------------------------- command line
def _read_json(path: str, what: str) -> Any:
    try:
        if path == "-":
            return json.load(sys.stdin)
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise _InputError(f"{what} {path}: cannot read it ({e.strerror})") from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise _InputError(f"{what} {path}: not JSON ({e}); give the output of tahoma ... --format json") from e


class _InputError(Exception):
    pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tahoma-report", description="Writes one self-contained HTML report of "
                                     "a Tahoma result (tahoma ... --format json).")
    parser.add_argument("result", help="the JSON of simulate, search, compare, validate or serve (- for stdin), or "
                        "a JSON list of simulate results (scaling) or serve results (latency against load)")
    parser.add_argument("--trace", help="the Chrome trace of a simulate result (tahoma simulate --trace FILE)")
    parser.add_argument("--command", help="the command line that reproduces the result, shown in the report")
    parser.add_argument("--title", help="the report's title (default: from the result)")
    parser.add_argument("-o", "--output", default="-", help="the HTML file to write (default: standard output)")
    args = parser.parse_args(argv)
    try:
        _plots()
    except ImportError as e:
        print(f"error: tahoma report needs matplotlib for {sys.executable} ({e}); install it with "
              "`apt-get install python3-matplotlib` (Debian) or `pip install matplotlib`, or point TAHOMA_PYTHON "
              "at a Python 3 that has it", file=sys.stderr)
        return EXIT_INPUT
    try:
        result = _read_json(args.result, "result")
        trace = _read_json(args.trace, "--trace") if args.trace else None
        try:
            text = render(result, trace=trace, command=args.command, title=args.title)
        except (ValueError, KeyError, TypeError) as e:
            raise _InputError(f"result {args.result}: {e}") from e
    except _InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_INPUT
    if args.output == "-":
        sys.stdout.write(text)
    else:
        try:
            with open(args.output, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as e:
            print(f"error: -o {args.output}: cannot write it ({e.strerror})", file=sys.stderr)
            return EXIT_INPUT
    return 0


if __name__ == "__main__":
    sys.exit(main())
