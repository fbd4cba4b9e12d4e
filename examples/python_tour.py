"""A tour of Tahoma from Python (docs/python.md walks through it). Run from the repository root:

    PYTHONPATH=build/python python3 examples/python_tour.py

Each call returns what `tahoma COMMAND ... --format json` prints, as dicts and lists.
"""

import tahoma

# 1. One training step. 144 Trainium3 chips, Llama 3 70B (80 layers), 64 sequences of 8192 tokens:
#    144 = 16 x 9 leaves no even layout; with no layout given, simulate takes the one the search ranks
#    first (9 pipeline stages of 8 or 9 layers) and says so in step["layout_note"].
step = tahoma.simulate(system="trn3-ultraserver", chips=144, model="llama3-70b", seq=8192, global_batch=64)
print(f"step {step['step_time_s']:.2f} s, {step['tokens_per_s']:.3g} tokens/s, MFU {step['mfu']:.1%}")
print("breakdown (s):", {k: round(v, 3) for k, v in step["breakdown"].items() if isinstance(v, float)})

# 2. The same question without a layout is an input error with the command's own message.
try:
    tahoma.simulate(system="trn3-ultraserver", chips=144, model="llama3-70b", seq=8192, global_batch=64)
except tahoma.InputError as e:
    print("InputError:", e)

# 3. Search layouts on 128 chips instead, and print the top three.
found = tahoma.search(system="trn3-ultraserver", chips=128, model="llama3-70b", seq=8192, global_batch=64, top=3)
for rank, r in enumerate(found["results"], 1):
    lay = r["layout"]
    print(f"#{rank} tp {lay['tp']} pp {lay['pp']} cp {lay['cp']} dp {lay['dp']}: {r['tokens_per_s']:.3g} tokens/s")

# 4. Systems side by side, each with its best layout.
cmp = tahoma.compare(systems=["trn2-ultraserver", "trn3-ultraserver", "gb300-nvl72"], chips=128,
                     model="llama3-70b", seq=8192, global_batch=64, top=1)
for s in cmp["systems"]:
    best = s["results"][0] if s["results"] else None
    print(f"{s['system']:<18} {best['tokens_per_s'] if best else 0:.3g} tokens/s")

# 5. A what-if: twice the HBM capacity (any preset field can be overridden, units required).
big = tahoma.simulate(system="trn3-ultraserver", chips=144, model="llama3-70b", seq=8192, global_batch=64,
                      tp=8, pp=9, uneven_pipeline=True, set=["chip.hbm_capacity=288GB"])
print("memory per chip:", round(big["memory"]["peak_bytes_per_chip"] / 1e9), "of",
      round(big["memory"]["capacity_bytes_per_chip"] / 1e9), "GB")

# 6. A collective sweep, nccl-tests style.
ar = tahoma.collective(system="trn3-ultraserver", op="all-reduce", min_bytes="1MB", max_bytes="1GB")
print("all-reduce busbw at 1 GB:", round(ar["rows"][-1]["busbw_bytes_per_s"] / 1e9), "GB/s")

# 7. Serving at a latency target, and a whole training run with failures.
srv = tahoma.serve(system="trn3-ultraserver", chips=16, model="llama3-8b", tp=4, rate=20, requests=200)
print("TTFT p99", round(srv["ttft_s"]["p99"], 3), "s; TPOT p99", round(srv["tpot_s"]["p99"] * 1e3, 1), "ms")
run = tahoma.run("data/scenarios/demo-llama3.1-405b-trn3-ultraserver.yaml", tokens="15T", trials=50)
print("run keys:", sorted(run)[:6], "...")

# 8. Predicted against measured, and the presets.
val = tahoma.validate("validation/published_runs.csv")
print("validation rows:", len(val["rows"]), "summary keys:", sorted(val["summary"])[:4], "...")
print("systems:", [s["name"] for s in tahoma.list("systems")][:5], "...")

# 9. The same results as CSV text for a spreadsheet (docs/csv.md).
print(tahoma.search(system="trn3-ultraserver", chips=128, model="llama3-70b", seq=8192, global_batch=64, top=3,
                    format="csv").splitlines()[0][:120], "...")
