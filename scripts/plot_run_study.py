#!/usr/bin/env python3
"""Plots the at-scale study of docs/run.md (issue 16 item 9): ETTR and days to train of a Llama 3.1
405B class run of 15T tokens, per recovery strategy, at 16K, ~100K, ~500K and 1M chips. The cases are
scripts/run-study.sh's; every number comes from `tahoma run --format json`.

    python3 scripts/plot_run_study.py [TAHOMA_BINARY] [OUT.png]   (needs python3-matplotlib)
"""
import json
import os
import shlex
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "bin", "tahoma")
OUT = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "docs", "run-study.png")
STRATEGIES = ["restart", "in-memory", "spares", "elastic"]

cases = subprocess.run([os.path.join(ROOT, "scripts", "run-study.sh"), BIN, "--cases"], check=True,
                       capture_output=True, text=True).stdout.splitlines()
rows = []
for args in cases:
    out = subprocess.run([BIN, "run", *shlex.split(args), "--format", "json"], check=True, capture_output=True,
                         text=True, env={**os.environ, "TAHOMA_DATA": os.path.join(ROOT, "data")}).stdout
    j = json.loads(out)
    rows.append((f"{j['chips']:,}\n{j['config']['system']['name']}", j))

fig, (ax_ettr, ax_days) = plt.subplots(1, 2, figsize=(11, 4.2))
x = range(len(rows))
width = 0.2
for k, name in enumerate(STRATEGIES):
    offs = [i + (k - 1.5) * width for i in x]
    ax_ettr.bar(offs, [100 * j["strategies"][name]["ettr"] for _, j in rows], width, label=name)
    ax_days.bar(offs, [j["strategies"][name]["days_to_train"] for _, j in rows], width, label=name,
                yerr=[[j["strategies"][name]["days_to_train"] - j["strategies"][name]["monte_carlo"]["p10"]
                       for _, j in rows],
                      [j["strategies"][name]["monte_carlo"]["p90"] - j["strategies"][name]["days_to_train"]
                       for _, j in rows]])
for ax, title in ((ax_ettr, "ETTR (%)"), (ax_days, "days to train 15T tokens (MC p10-p90)")):
    ax.set_xticks(list(x))
    ax.set_xticklabels([label for label, _ in rows], fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
ax_ettr.set_ylim(0, 100)
ax_ettr.legend(fontsize=8)
fig.suptitle("Llama 3.1 405B class, 15T tokens: failures at scale (tahoma run; scripts/run-study.sh cases)",
             fontsize=10)
fig.tight_layout()
fig.savefig(OUT, dpi=110)
print(f"wrote {OUT}")
