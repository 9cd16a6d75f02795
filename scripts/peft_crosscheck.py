#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Cross-checks the workbench's adapter folders against the Hugging Face PEFT library itself.

  import: adapters made and saved by PEFT (LoRA on BERT query/value with a classifier, LoRA on GPT-2's c_attn and
          both c_proj, prefix tuning on GPT-2) → `peftwb forward --model BASE --adapter DIR` against PEFT's logits;
  export: runs trained by the workbench (LoRA, prefix tuning) → `peftwb export --format hf-peft` →
          PeftModel.from_pretrained → PEFT's logits against `peftwb forward --adapter`.

    python3 scripts/peft_crosscheck.py PATH/TO/peftwb [tests/data/tokenizers] [--out result.json]

Needs torch, transformers and peft. Exit status 1 when a logit differs by more than 1e-4 relative.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import peft
import torch
import transformers

PEFTWB = sys.argv[1]
DATA = sys.argv[2] if len(sys.argv) > 2 and not sys.argv[2].startswith("--") else "tests/data/tokenizers"
OUT = sys.argv[sys.argv.index("--out") + 1] if "--out" in sys.argv else None
TEXTS = ["the plot was not bad but the music was dull", "Hello, world! It's great."]


def run(args):
    p = subprocess.run([PEFTWB] + args, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("peftwb %s: %s" % (" ".join(args[:2]), p.stderr.strip()))
    return p.stdout


def forward(base, adapter, text):
    return json.loads(run(["forward", "--model", base, "--adapter", adapter, "--text", text, "--json"]))


def randomize(module, std, only=None):
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if only is None or any(o in name for o in only):
                if "LayerNorm.weight" in name or (".ln_" in name and name.endswith("weight")):
                    p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
                else:
                    p.copy_(std * torch.randn(p.shape, generator=g))


def compare(name, peft_model, base, adapter, head):
    rows = []
    peft_model.eval()
    for text in TEXTS:
        j = forward(base, adapter, text)
        kwargs = {"input_ids": torch.tensor([j["ids"]])}
        if "type_ids" in j:
            kwargs["token_type_ids"] = torch.tensor([j["type_ids"]])
        with torch.no_grad():
            logits = peft_model(**kwargs).logits[0]
        ref = (logits[-1] if head == "lm" else logits).double()
        ours = torch.tensor(j["logits"], dtype=torch.float64)
        diff = (ours - ref).abs().max().item() if ours.shape == ref.shape else float("inf")
        scale = ref.abs().max().item()
        ok = diff <= 1e-4 * max(scale, 1.0)
        rows.append({"case": name, "text": text, "max_abs_diff": diff, "max_abs_logit": scale, "ok": ok})
        print("%-34s max|Δlogit| %.2e (max|logit| %.2f) %s" % (name, diff, scale, "ok" if ok else "MISMATCH"),
              flush=True)
    return rows


def main():
    root = tempfile.mkdtemp(prefix="peft-crosscheck-")
    print("torch", torch.__version__, "transformers", transformers.__version__, "peft", peft.__version__, flush=True)
    torch.manual_seed(0)
    rows = []

    # Base models, saved with their tokenizer files.
    bert_dir = os.path.join(root, "bert")
    cfg = transformers.BertConfig(vocab_size=30522, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                  intermediate_size=128, max_position_embeddings=128, num_labels=2)
    bert = transformers.BertForSequenceClassification(cfg)
    randomize(bert, 0.2)
    bert.save_pretrained(bert_dir)
    shutil.copy(os.path.join(DATA, "bert-base-uncased", "vocab.txt"), bert_dir)
    gpt_dir = os.path.join(root, "gpt2")
    gcfg = transformers.GPT2Config(vocab_size=50257, n_embd=64, n_layer=2, n_head=4, n_positions=256)
    gpt = transformers.GPT2LMHeadModel(gcfg)
    randomize(gpt, 0.2)
    gpt.save_pretrained(gpt_dir)
    for f in ("vocab.json", "merges.txt"):
        shutil.copy(os.path.join(DATA, "gpt2", f), gpt_dir)

    def fresh_bert():
        return transformers.BertForSequenceClassification.from_pretrained(bert_dir)

    def fresh_gpt():
        return transformers.GPT2LMHeadModel.from_pretrained(gpt_dir)

    # ---- import: adapters PEFT made --------------------------------------------------------------------
    cases = [
        ("import LoRA bert query,value + head", fresh_bert, "cls",
         peft.LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value"], task_type="SEQ_CLS")),
        ("import LoRA gpt2 c_attn,c_proj", fresh_gpt, "lm",
         peft.LoraConfig(r=4, lora_alpha=16, target_modules=["c_attn", "c_proj"], fan_in_fan_out=True,
                         task_type="CAUSAL_LM")),
        ("import prefix gpt2 (l=5)", fresh_gpt, "lm", peft.PrefixTuningConfig(num_virtual_tokens=5, task_type="CAUSAL_LM")),
        ("import prefix bert (l=5) + head", fresh_bert, "cls",
         peft.PrefixTuningConfig(num_virtual_tokens=5, task_type="SEQ_CLS")),
    ]
    for name, make, head, conf in cases:
        try:
            model = peft.get_peft_model(make(), conf)
            randomize(model, 0.3, only=["lora_", "prompt_encoder", "modules_to_save"])
            d = os.path.join(root, name.replace(" ", "_").replace(",", "_").replace("(", "").replace(")", "").replace("=", ""))
            model.save_pretrained(d)
            model.eval()
            rows += compare(name, model, bert_dir if head == "cls" else gpt_dir, d, head)
        except Exception as e:  # noqa: BLE001 - report and go on
            print("%-34s could not run: %s: %s" % (name, type(e).__name__, e), flush=True)
            rows.append({"case": name, "ok": False, "error": str(e)})

    # ---- export: runs the workbench trained ---------------------------------------------------------
    proj = os.path.join(root, "runs.peftproj")
    exports = [("export LoRA bert + head", bert_dir, "sentiment", "lora", "cls", fresh_bert),
               ("export prefix bert + head", bert_dir, "sentiment", "prefix", "cls", fresh_bert),
               ("export LoRA gpt2 (LM)", gpt_dir, "translation", "lora", "lm", fresh_gpt),
               ("export prefix gpt2 (LM)", gpt_dir, "translation", "prefix", "lm", fresh_gpt)]
    for i, (name, base, task, preset, head, make) in enumerate(exports, start=1):
        try:
            run(["train", "--model", base, "--task", task, "--preset", preset, "--steps", "20", "--eval-every", "10",
                 "--train-size", "200", "--max-eval", "20", "--max-new-tokens", "4", "--project", proj, "--quiet",
                 "--lr", "0.01"])
            d = os.path.join(root, "export-%d" % i)
            run(["export", "--project", proj, "--run", str(i), "--format", "hf-peft", "--out", d])
            model = peft.PeftModel.from_pretrained(make(), d)
            rows += compare(name, model, base, d, head)
        except Exception as e:  # noqa: BLE001
            print("%-34s could not run: %s: %s" % (name, type(e).__name__, e), flush=True)
            rows.append({"case": name, "ok": False, "error": str(e)})

    bad = [r for r in rows if not r["ok"]]
    print("%d of %d checks match PEFT" % (len(rows) - len(bad), len(rows)))
    if OUT:
        json.dump({"peft": peft.__version__, "transformers": transformers.__version__, "rows": rows}, open(OUT, "w"),
                  indent=1)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
