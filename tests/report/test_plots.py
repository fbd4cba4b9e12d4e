"""Unit tests of python/tahoma/plots.py and report.py (issue 17 items 2-3) on real JSON from the built binary.

Run by ctest (Report.Plots, tests/report/run_pytest.sh) as
    TAHOMA_BIN=build/bin/tahoma /usr/bin/python3 -m pytest tests/report/test_plots.py
Each plot is checked for what it shows: axis labels, how many bars/points/lines, and that the numbers drawn are
the JSON's (step time in ms, memory in GB, one Gantt bar per trace task, one point per layout or row).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python" / "tahoma"))  # the modules by path: no need for the _tahoma extension

import plots  # noqa: E402
import report  # noqa: E402
from matplotlib.collections import BrokenBarHCollection, PathCollection  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

BIN = os.environ.get("TAHOMA_BIN", str(ROOT / "build" / "bin" / "tahoma"))
SMALL = ["--system", "dgx-h100", "--model", "llama3-8b", "--seq", "2048", "--global-batch", "32"]


def tahoma(*args: str) -> dict:
    out = subprocess.run([BIN, *args, "--format", "json"], check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    trace = tmp_path_factory.mktemp("trace") / "trace.json"
    result = tahoma("simulate", *SMALL, "--chips", "16", "--tp", "2", "--pp", "2", "--trace", str(trace))
    return result, json.loads(trace.read_text())


@pytest.fixture(scope="module")
def search():
    return tahoma("search", *SMALL, "--chips", "16", "--top", "12")


@pytest.fixture(scope="module")
def compare():
    return tahoma("compare", "--systems", "dgx-h100,tpu-v5p", "--chips", "16", "--model", "llama3-8b", "--seq",
                  "2048", "--global-batch", "32", "--top", "4")


def bars(ax) -> list[Rectangle]:
    return [p for p in ax.patches if isinstance(p, Rectangle)]


def test_step_breakdown_of_one_step_stacks_to_the_step_time(sim):
    result, _ = sim
    fig = plots.step_breakdown(result)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "step time (ms)"
    stacked = sum(p.get_width() for p in bars(ax))
    assert stacked == pytest.approx(result["step_time_s"] * 1e3, rel=1e-6)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "compute" in labels and "bubble" in labels
    assert len(ax.get_yticklabels()) == 1 and "dgx-h100" in ax.get_yticklabels()[0].get_text()


def test_step_breakdown_has_one_bar_per_layout_or_system(search, compare):
    ax = plots.step_breakdown(search).axes[0]
    assert len(ax.get_yticks()) == len(search["results"]) == 12
    ax = plots.step_breakdown(compare).axes[0]
    names = [t.get_text().split("\n")[0] for t in ax.get_yticklabels()]
    assert names == ["dgx-h100", "tpu-v5p"]
    with pytest.raises(ValueError):
        plots.step_breakdown(compare, labels=["only one"])


def test_memory_stacks_to_the_peak_and_marks_the_capacity(sim, search):
    result, _ = sim
    ax = plots.memory(result).axes[0]
    assert ax.get_xlabel() == "memory per chip (GB)"
    assert sum(p.get_width() for p in bars(ax)) == pytest.approx(result["memory"]["peak_bytes_per_chip"] / 1e9,
                                                                  rel=1e-6)
    capacity = [line for line in ax.get_lines() if line.get_label() == "HBM capacity"]
    assert capacity and capacity[0].get_xdata()[0] == pytest.approx(80.0)
    ax = plots.memory(search).axes[0]
    assert len(ax.get_yticks()) == len(search["results"])


def test_pipeline_timeline_draws_every_task_once(sim):
    _, trace = sim
    spans = [e for e in trace["traceEvents"] if e.get("ph") == "X"]
    rows = {(e["pid"], e["tid"]) for e in spans}
    ax = plots.pipeline_timeline(trace).axes[0]
    drawn = sum(len(c.get_paths()) for c in ax.collections if isinstance(c, BrokenBarHCollection))
    assert drawn == len(spans)
    assert len(ax.get_yticks()) == len(rows)
    assert ax.get_yticklabels()[0].get_text() == "stage 0 compute"
    assert ax.get_xlabel().startswith("time in the step")
    assert {t.get_text() for t in ax.get_legend().get_texts()} >= {"forward", "backward"}
    with pytest.raises(ValueError):
        plots.pipeline_timeline({"traceEvents": []})


def test_scaling_plots_tokens_and_mfu_against_chips():
    results = [tahoma("simulate", *SMALL, "--chips", str(c), "--tp", "2", "--pp", "2") for c in (32, 8, 16)]
    fig = plots.scaling(results)
    ax, ax2 = fig.axes
    tokens = ax.get_lines()[0]
    assert list(tokens.get_xdata()) == [8, 16, 32]
    by_chips = sorted(results, key=lambda r: r["config"]["chips"])
    assert list(tokens.get_ydata()) == [r["tokens_per_s"] for r in by_chips]
    assert ax.get_xlabel() == "chips" and ax.get_ylabel() == "tokens/s" and ax2.get_ylabel() == "MFU (%)"
    assert list(ax2.get_lines()[0].get_ydata()) == pytest.approx([100 * r["mfu"] for r in by_chips])
    with pytest.raises(ValueError):
        plots.scaling([])


def test_search_pareto_has_every_layout_and_a_monotone_front(search, compare):
    ax = plots.search_pareto(search).axes[0]
    points = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(points[0].get_offsets()) == len(search["results"])
    front = [line for line in ax.get_lines() if line.get_label() == "Pareto front"][0]
    xs, ys = list(front.get_xdata()), list(front.get_ydata())
    assert xs == sorted(xs) and ys == sorted(ys)
    assert ax.get_ylabel() == "tokens/s" and ax.get_xlabel() == "memory per chip (GB)"
    ax = plots.search_pareto(search, x="cost").axes[0]  # dgx-h100 has a price
    assert ax.get_xlabel() == "cost ($ per million tokens)"
    ax = plots.search_pareto(compare).axes[0]
    assert {t.get_text() for t in ax.get_legend().get_texts()} >= {"dgx-h100 layouts", "tpu-v5p layouts"}
    with pytest.raises(ValueError):
        plots.search_pareto(search, x="power")


def test_validation_has_one_point_per_row_and_the_band():
    result = tahoma("validate", "validation/published_runs.csv", "--family", "ampere")
    fig = plots.validation(result)
    ax = fig.axes[0]
    simulated = [r for r in result["rows"] if r["simulated"]]
    drawn = sum(len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection))
    assert drawn == len(simulated)
    assert ax.get_xlabel() == "measured tokens/s per chip" and ax.get_ylabel() == "predicted tokens/s per chip"
    band = f"±{result['summary']['mape_pct']:.1f}%"
    assert band in [t.get_text() for t in ax.get_legend().get_texts()]
    assert f"MAPE {result['summary']['mape_pct']:.1f}%" in ax.get_title()


def test_validation_of_serving_has_a_panel_per_measured_metric():
    result = tahoma("validate", "validation/published_serving.csv", "--family", "AWS")
    fig = plots.validation(result)
    assert [ax.get_xlabel() for ax in fig.axes] == ["measured output tokens/s per chip", "measured TTFT (s)",
                                                    "measured TPOT (s)"]


def test_serving_latency_has_three_percentiles_per_metric_against_load():
    runs = [tahoma("serve", "--system", "dgx-h100", "--chips", "8", "--model", "llama3-8b", "--tp", "2", "--rate",
                   str(rate), "--requests", "64") for rate in (8, 2, 4)]
    fig = plots.serving_latency(runs)
    ttft, tpot = fig.axes
    for ax in (ttft, tpot):
        assert [line.get_label() for line in ax.get_lines()] == ["p50", "p90", "p99"]
        assert list(ax.get_lines()[0].get_xdata()) == [2.0, 4.0, 8.0]
        assert ax.get_xlabel() == "load (requests/s)"
    assert ttft.get_ylabel().startswith("TTFT") and tpot.get_ylabel().startswith("TPOT")
    with pytest.raises(ValueError):
        plots.serving_latency([{"rows": [], "summary": {}}])


def test_svg_is_inline_ready_and_ids_do_not_collide(sim):
    result, _ = sim
    a = plots.to_svg(plots.step_breakdown(result), salt="a")
    b = plots.to_svg(plots.step_breakdown(result), salt="b")
    assert a.startswith("<svg") and "<?xml" not in a and "DOCTYPE" not in a
    assert 'href="http' not in a and "<text" in a  # text as text, no external fonts or images
    ids_a, ids_b = set(re.findall(r'\bid="([^"]+)"', a)), set(re.findall(r'\bid="([^"]+)"', b))
    assert ids_a and not ids_a & ids_b
    refs = set(re.findall(r'url\(#([^)]+)\)', a)) | set(re.findall(r'href="#([^"]+)"', a))
    assert refs and refs <= ids_a  # every clip path and marker reference still resolves
    assert plots.to_svg(plots.step_breakdown(result), salt="a") == a  # deterministic


def test_report_renders_every_kind_with_its_plots(sim, search, compare):
    result, trace = sim
    page = report.render(result, trace=trace, command="tahoma simulate ...")
    assert page.count('<figure class="plot"') == 3 and "tahoma simulate ..." in page
    assert not re.search(r'(src|href)="(https?:)?//|url\((https?:)?//|@import', page)  # nothing fetched
    assert report.render(search).count('<figure class="plot"') == 4
    assert report.render(compare).count('<figure class="plot"') == 3
    assert report.detect_kind([result, result]) == "scaling"
    with pytest.raises(ValueError):
        report.detect_kind({"hello": 1})
    with pytest.raises(ValueError):
        report.detect_kind([result, search])


@pytest.fixture(scope="module")
def serve_search():
    return tahoma("search", "--serve", "--system", "dgx-h100", "--chips", "8", "--model", "llama3-8b", "--input-len",
                  "1000", "--output-len", "200", "--slo-ttft", "2s", "--slo-tpot", "100ms", "--requests", "200",
                  "--top", "8")


def test_serving_search_has_one_point_per_layout_and_marks_the_winner(serve_search):
    fig = plots.serving_search(serve_search)
    rows = serve_search["results"]
    assert len(rows) >= 2
    for ax, key in zip(fig.axes[:2], ("tpot_s", "ttft_s")):
        layouts = [c for c in ax.collections if isinstance(c, PathCollection) and c.get_label() == "layouts"][0]
        offsets = layouts.get_offsets()
        assert len(offsets) == len(rows)
        assert sorted(float(y) for _, y in offsets) == pytest.approx(
            sorted(x["output_tokens_per_s_per_chip"] for x in rows))
        star = [c for c in ax.collections if c.get_label() == "rank 1"][0].get_offsets()[0]
        assert float(star[1]) == pytest.approx(serve_search["best"]["output_tokens_per_s_per_chip"])
        assert ax.get_ylabel() == "output tokens/s per chip" and key[:4].upper() in ax.get_xlabel()


def test_report_of_search_serve(serve_search):
    assert report.detect_kind(serve_search) == "search-serve"
    page = report.render(serve_search)
    assert page.count('<figure class="plot"') == 1
    assert serve_search["best"]["reproduce"] in page.replace("&quot;", '"')
    assert page.count("<tr>") >= len(serve_search["results"]) + 1


def test_report_of_a_searched_layout_says_so():
    # No layout given and one replica per rank does not divide 30 sequences over 16 chips.
    result = tahoma("simulate", "--system", "dgx-h100", "--model", "llama3-8b", "--seq", "2048", "--global-batch",
                    "30", "--chips", "16")
    assert result["layout_source"] == "searched"
    page = report.render(result)
    assert "Layout searched: " in page and "does not run" in page
    sim_given = tahoma("simulate", *SMALL, "--chips", "16")
    assert "Layout searched" not in report.render(sim_given)


def test_report_command_line_exits_2_on_bad_input(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert report.main([str(bad), "-o", str(tmp_path / "r.html")]) == 2
    assert report.main([str(tmp_path / "missing.json")]) == 2
    other = tmp_path / "other.json"
    other.write_text('{"a": 1}')
    assert report.main([str(other)]) == 2
    assert not (tmp_path / "r.html").exists()
