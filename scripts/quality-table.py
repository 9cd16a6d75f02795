#!/usr/bin/env python3
"""Summarises scripts/quality-gates.sh output: the gates and the preset × task table (Markdown)."""
import json
import os
import sys

out = sys.argv[1] if len(sys.argv) > 1 else "build/quality-gates"


def load(name):
    path = os.path.join(out, name + ".json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.loads(f.read())


def curve(name, metric):
    pts = []
    path = os.path.join(out, name + ".jsonl")
    if os.path.exists(path):
        for line in open(path):
            p = json.loads(line)
            if p["split"] == "dev" and p["name"] == metric:
                pts.append((p["wall_time"], p["step"], p["value"]))
    return pts


print("## Gates\n")
for task in ("sentiment", "entailment"):
    a, b = load(f"full-{task}"), load(f"full-{task}-random")
    if a and b:
        print(f"- full fine-tuning on {task}: dev accuracy {a['best_dev_metric']:.4f} (pretrained) vs "
              f"{b['best_dev_metric']:.4f} (random init), {a['steps']} steps each")
a, b = load("full-entailment-long"), load("full-entailment-long-random")
if a:
    pts = curve("full-entailment-long", "accuracy")
    first = next((s for _, s, v in pts if v >= 0.9), None)
    print(f"- full fine-tuning on entailment, the long recipe: dev accuracy {a['best_dev_metric']:.4f} at step "
          f"{a['best_step']} of {a['steps']} ({a['seconds']:.0f} s, {a['threads']} threads)"
          + (f", first ≥ 0.90 at step {first}" if first else "")
          + (f"; random init {b['best_dev_metric']:.4f} at step {b['best_step']}" if b else ""))
    print("  (" + ", ".join(f"{s}: {v:.3f}" for _, s, v in pts) + ")")

print("\n## Pretrained vs randomly initialised backbone, same steps (dev accuracy at each evaluation)\n")
print("| run | " + " | ".join(f"step {s}" for s in (50, 100, 150, 200, 300, 600)) + " |")
print("|---|" + "---|" * 6)
for name in ("full-sentiment", "full-sentiment-random", "lora-sentiment", "lora-sentiment-random",
             "full-entailment", "full-entailment-random"):
    pts = {s: v for _, s, v in curve(name, "accuracy")}
    if pts:
        print(f"| {name} | " + " | ".join(f"{pts[s]:.3f}" if s in pts else "–" for s in (50, 100, 150, 200, 300, 600)) + " |")

presets = json.loads(os.popen("build/release/bin/peftwb presets --json").read())
print("\n## Time to within 2 points of the best dev accuracy (sentiment)\n")
print("| preset | best dev acc. | first within 2 points at | wall time then |")
print("|---|---|---|---|")
for p in presets:
    pts = curve(f"{p['id']}-sentiment", "accuracy")
    if not pts:
        continue
    best = max(v for _, _, v in pts)
    t, s, v = next((t, s, v) for t, s, v in pts if v >= best - 0.02)
    print(f"| {p['id']} | {best:.4f} | step {s} | {t:.1f} s |")

print("\n## Every preset on every task\n")
tasks = ("sentiment", "entailment", "summarization", "translation")
metric = {"sentiment": "acc.", "entailment": "acc.", "summarization": "ROUGE-L", "translation": "BLEU"}
print("| preset | trained % | " + " | ".join(f"{t} ({metric[t]}, s)" for t in tasks) + " |")
print("|---|---|" + "---|" * len(tasks))
for p in presets:
    cells, pct = [], None
    for t in tasks:
        r = load(f"{p['id']}-{t}")
        if r is None:
            cells.append("–")
            continue
        pct = r["trained_pct"]
        v = r["best_dev_metric"]
        cells.append(f"{v:.3f} ({r['seconds']:.0f} s)" if t != "translation" else f"{v:.1f} ({r['seconds']:.0f} s)")
    print(f"| {p['id']} | {pct:.3f} | " + " | ".join(cells) + " |" if pct is not None else f"| {p['id']} | – |")
