"""The Python module (issue 17 item 1, docs/python.md) against the tahoma binary it stands for.

Run by ctest Python.Api: PYTHONPATH=BUILD/python /usr/bin/python3 -m pytest tests/python, with
TAHOMA_BIN naming the binary of the same build. Every call must return exactly what
`tahoma COMMAND ... --format json` prints, parsed, and bad input must raise tahoma.InputError with
the command's message.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pytest

import tahoma

SOURCE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("TAHOMA_BIN", os.path.join(SOURCE, "build", "bin", "tahoma"))


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([BIN, *args], capture_output=True, text=True, check=False)


def cli_json(*args: str):
    r = cli(*args, "--format", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def cli_error(*args: str) -> str:
    r = cli(*args)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.startswith("error: ")
    return r.stderr.strip()[len("error: "):]


def test_issue_done_when_command():
    """The issue's line as written: 144 chips of 80-layer Llama 3 70B at global batch 64 have no even
    layout, so simulate takes the searched one (9 uneven pipeline stages) and says so."""
    code = (
        "import tahoma; print(tahoma.simulate(system='trn3-ultraserver', chips=144, model='llama3-70b', "
        "seq=8192, global_batch=64)['tokens_per_s'])"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert float(r.stdout) > 0


def test_simulate_without_a_layout_searches_and_says_so():
    args = dict(system="trn3-ultraserver", chips=144, model="llama3-70b", seq=8192, global_batch=64)
    got = tahoma.simulate(**args)
    assert got == cli_json("simulate", "--system", "trn3-ultraserver", "--chips", "144", "--model", "llama3-70b",
                           "--seq", "8192", "--global-batch", "64")
    assert got["layout_source"] == "searched"
    assert "does not run" in got["layout_note"]
    plan = got["config"]["plan"]
    assert plan["uneven_pipeline"] is True
    assert plan["tp"] * plan["pp"] * plan["cp"] * plan["dp"] == 144
    # A default that runs is kept; a given layout is simulated as given, or its error raised.
    assert tahoma.simulate(system="trn2", chips=16, model="llama3-8b", seq=4096, global_batch=64)["layout_source"] == "given"
    with pytest.raises(tahoma.InputError) as e:
        tahoma.simulate(tp=3, **args)
    assert str(e.value) == cli_error(
        "simulate", "--system", "trn3-ultraserver", "--chips", "144", "--model", "llama3-70b", "--seq", "8192",
        "--global-batch", "64", "--tp", "3")


def test_simulate_equals_cli_json():
    got = tahoma.simulate(system="trn2", chips=64, model="llama3-8b", seq=4096, global_batch=64, tp=4,
                          recompute="full", set=["chip.hbm_capacity=64GB"])
    want = cli_json("simulate", "--system", "trn2", "--chips", "64", "--model", "llama3-8b", "--seq", "4096",
                    "--global-batch", "64", "--tp", "4", "--recompute", "full", "--set", "chip.hbm_capacity=64GB")
    assert got == want


def test_simulate_closed_form_and_flow_network():
    base = ["--system", "dgx-h100", "--chips", "16", "--model", "llama3-8b", "--seq", "4096", "--global-batch", "32"]
    args = dict(system="dgx-h100", chips=16, model="llama3-8b", seq=4096, global_batch=32)
    got = tahoma.simulate(engine="closed-form", **args)
    assert got == cli_json("simulate", *base, "--engine", "closed-form")
    assert got["engine"] == "closed-form"
    got = tahoma.simulate(network="flow", **args)
    assert got == cli_json("simulate", *base, "--network", "flow")
    assert got["network"] == "flow"


def test_scenario_yaml_path_and_keyword_override():
    path = os.path.join(SOURCE, "data", "scenarios", "demo-llama3.1-405b-trn3-ultraserver.yaml")
    assert tahoma.simulate(path) == cli_json("simulate", path)
    assert tahoma.simulate(scenario=path, engine="closed-form") == cli_json("simulate", path, "--engine", "closed-form")


def test_hugging_face_config_json_as_model():
    config = os.path.join(SOURCE, "tests", "workload", "hf", "qwen3-30b-a3b", "config.json")
    got = tahoma.simulate(system="dgx-h100", chips=8, model=config, seq=2048, global_batch=8)
    assert got == cli_json("simulate", "--system", "dgx-h100", "--chips", "8", "--model", config, "--seq", "2048",
                           "--global-batch", "8")


def test_search_compare_collective_equal_cli_json():
    assert tahoma.search(system="trn2", chips=64, model="llama3-8b", seq=4096, global_batch=64, top=3) == cli_json(
        "search", "--system", "trn2", "--chips", "64", "--model", "llama3-8b", "--seq", "4096", "--global-batch", "64",
        "--top", "3")
    assert tahoma.compare(systems=["trn2", "tpu-v7"], chips=64, model="llama3-8b", seq=4096, global_batch=64,
                          top=2) == cli_json("compare", "--systems", "trn2,tpu-v7", "--chips", "64", "--model",
                                             "llama3-8b", "--seq", "4096", "--global-batch", "64", "--top", "2")
    assert tahoma.collective(system="trn2", op="all-gather", min_bytes="1KB", max_bytes="1GB") == cli_json(
        "collective", "--system", "trn2", "--op", "all-gather", "-b", "1KB", "-e", "1GB")


def test_validate_training_serving_and_cross_validation():
    runs = os.path.join(SOURCE, "validation", "published_runs.csv")
    serving = os.path.join(SOURCE, "validation", "published_serving.csv")
    assert tahoma.validate(runs) == cli_json("validate", runs)
    assert tahoma.validate(serving) == cli_json("validate", serving)
    one = tahoma.validate(runs, only="megatron21_t1_1.7B")
    assert [r["id"] for r in one["rows"]] == ["megatron21_t1_1.7B"]
    assert one == cli_json("validate", runs, "--only", "megatron21_t1_1.7B")


def test_serve_search_serve_and_run_equal_cli_json():
    assert tahoma.serve(system="trn2", chips=16, model="llama3-8b", tp=4, offline=True, requests=40) == cli_json(
        "serve", "--system", "trn2", "--chips", "16", "--model", "llama3-8b", "--tp", "4", "--offline", "--requests",
        "40")
    assert tahoma.search(serve=True, system="trn2", chips=16, model="llama3-8b", requests=40, top=2) == cli_json(
        "search", "--serve", "--system", "trn2", "--chips", "16", "--model", "llama3-8b", "--requests", "40", "--top",
        "2")
    path = os.path.join(SOURCE, "data", "scenarios", "demo-llama3.1-405b-trn3-ultraserver.yaml")
    assert tahoma.run(path, tokens="1T", trials=20) == cli_json("run", path, "--tokens", "1T", "--trials", "20")


def test_list_and_show_equal_cli_json():
    for kind in ("systems", "models", "stacks", "schedules", "algorithms", "fields"):
        assert tahoma.list(kind) == cli_json("list", kind)
    assert tahoma.show("system", "trn2", chips=32) == cli_json("show", "system", "trn2", "--chips", "32")
    assert tahoma.show("model", "llama3-70b") == cli_json("show", "model", "llama3-70b")
    assert tahoma.show("stack", "vllm") == cli_json("show", "stack", "vllm")


def test_csv_and_table_text():
    args = dict(system="trn2", chips=64, model="llama3-8b", seq=4096, global_batch=64, tp=4)
    text = tahoma.simulate(format="csv", **args)
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(rows) == 1
    result = tahoma.simulate(**args)
    assert float(rows[0]["tokens_per_s"]) == result["tokens_per_s"]
    assert rows[0]["config.plan.placement"] == result["config"]["plan"]["placement"]
    assert "tokens/s" in tahoma.simulate(format="table", **args)


@pytest.mark.parametrize(
    "key, value",
    [("chips", "x"), ("chips", -1), ("chips", 0), ("chips", 10**30), ("chips", 2.5), ("chips", float("nan")),
     ("chips", [1, 2]), ("chips", {"a": 1}), ("tp", "eight"), ("seq", -5), ("global_batch", 10**40),
     ("precision", "fp7"), ("recompute", "sometimes"), ("engine", "quantum"), ("model", "no-such-model"),
     ("system", "no-such-system"), ("set", ["chip.hbm_capacity=lots"]), ("set", "nonsense"), ("stack", 3),
     ("model", "a\0b"), ("frobnicate", 1)],
)
def test_wrong_types_raise_input_error_with_the_cli_message(key, value):
    args = dict(system="trn2", chips=64, model="llama3-8b", seq=4096, global_batch=64)
    args[key] = value
    with pytest.raises(tahoma.InputError) as e:
        tahoma.simulate(**args)
    message = str(e.value)
    assert message
    if "\0" in str(value):
        return  # refused before the command line (C strings end at NUL)
    flags = []
    for k, v in args.items():
        items = v if isinstance(v, list) and k == "set" else [v]
        flags += [f"--{k.replace('_', '-')}={','.join(map(str, x)) if isinstance(x, list) else x}" for x in items]
    assert message == cli_error("simulate", *flags)


def test_input_errors_of_other_calls():
    with pytest.raises(tahoma.InputError, match="--systems"):
        tahoma.compare(chips=8, model="llama3-8b")
    with pytest.raises(tahoma.InputError, match="--op"):
        tahoma.collective(system="trn2", op="all-shuffle")
    with pytest.raises(tahoma.InputError):
        tahoma.validate("/no/such/file.csv")
    with pytest.raises(tahoma.InputError):
        tahoma.list("gizmos")
    with pytest.raises(tahoma.InputError, match="--offline"):
        tahoma.serve(system="trn2", model="llama3-8b")
    with pytest.raises(tahoma.InputError, match="not available in process"):
        tahoma.command("report", "simulate")
    with pytest.raises(tahoma.InputError):
        tahoma.command()


def test_positional_arguments_are_never_flags():
    with pytest.raises(tahoma.InputError):
        tahoma.simulate("--help")  # a file named --help, which does not exist
