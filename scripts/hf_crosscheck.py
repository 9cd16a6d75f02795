#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Cross-checks peftwb against Hugging Face transformers itself.

Builds small random bert / roberta / gpt2 models with transformers, saves them with save_pretrained
(safetensors; RoBERTa in bfloat16), and compares `peftwb tokenize` / `peftwb forward` with the Hugging Face
tokenizer's ids and the model's float32 logits on the same text.

    python3 scripts/hf_crosscheck.py PATH/TO/peftwb [tests/data/tokenizers] [--out result.json] [--keep DIR]

Needs torch and transformers (the GPU machine has both; the workbench's own tests do not need them).
Exit status 1 when an id differs or a logit differs by more than 1e-4 relative to the largest logit.
"""
import json
import os
import subprocess
import sys
import tempfile

import torch
import transformers

PEFTWB = sys.argv[1]
DATA = sys.argv[2] if len(sys.argv) > 2 and not sys.argv[2].startswith("--") else "tests/data/tokenizers"
OUT = sys.argv[sys.argv.index("--out") + 1] if "--out" in sys.argv else None
KEEP = sys.argv[sys.argv.index("--keep") + 1] if "--keep" in sys.argv else None

TEXTS = [
    ("Hello, world! The movie was not bad at all.", None),
    ("Führer naïve café 日本語 — ok?", None),
    ("It is great.", "It's not great, really!"),
    ("   leading spaces and\ttabs\n", None),
    ("I've been 'told he's there, 'RE you sure?", "We'Ve a'lL 3.14 12345"),
]


def tokenizer_class(*names):
    for n in names:
        if hasattr(transformers, n):
            return getattr(transformers, n)
    raise RuntimeError("none of %s in transformers %s" % (names, transformers.__version__))


def randomize(model):
    """Weights far from Hugging Face's tiny initialisation, so every path matters in the logits."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name or "ln_" in name and name.endswith("weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=g))


def peftwb(args):
    p = subprocess.run([PEFTWB] + args, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("peftwb %s failed: %s" % (" ".join(args[:3]), p.stderr.strip()))
    return json.loads(p.stdout)


def check(name, folder, tok, model, head):
    model.eval()
    rows = []
    for text, pair in TEXTS:
        enc = tok(text, pair) if pair is not None else tok(text)
        ids = list(enc["input_ids"])
        kwargs = {"input_ids": torch.tensor([ids])}
        if "token_type_ids" in enc:
            kwargs["token_type_ids"] = torch.tensor([list(enc["token_type_ids"])])
        with torch.no_grad():
            logits = model(**kwargs).logits[0]
        ref = (logits[-1] if head == "lm" else logits).double()
        args = ["forward", "--model", folder, "--preset", "full", "--text", text, "--json"]
        if pair is not None:
            args += ["--pair", pair]
        j = peftwb(args)
        targs = ["tokenize", "--model", folder, "--text", text, "--json"] + (["--pair", pair] if pair else [])
        t = peftwb(targs)
        ours = torch.tensor(j["logits"], dtype=torch.float64)
        diff = (ours - ref).abs().max().item() if ours.shape == ref.shape else float("inf")
        scale = ref.abs().max().item()
        row = {
            "model": name,
            "text": text,
            "pair": pair,
            "ids_equal": j["ids"] == ids and t["ids"] == ids,
            "n_tokens": len(ids),
            "max_abs_diff": diff,
            "max_abs_logit": scale,
            "ok": j["ids"] == ids and diff <= 1e-4 * max(scale, 1.0),
        }
        if not row["ids_equal"]:
            row["hf_ids"], row["our_ids"] = ids, j["ids"]
        rows.append(row)
        print("%-8s %-5s ids %-5s max|Δlogit| %.2e (max|logit| %.2f) %s" % (
            name, head, row["ids_equal"], diff, scale, "ok" if row["ok"] else "MISMATCH"), flush=True)
    return rows


def main():
    torch.manual_seed(0)
    root = KEEP or tempfile.mkdtemp(prefix="hf-crosscheck-")
    os.makedirs(root, exist_ok=True)
    print("torch", torch.__version__, "transformers", transformers.__version__, flush=True)
    rows = []

    # BERT: BertForSequenceClassification, float32, bert-base-uncased's vocabulary.
    bert_tok = tokenizer_class("BertTokenizerFast", "BertTokenizer")(
        vocab_file=os.path.join(DATA, "bert-base-uncased", "vocab.txt"), do_lower_case=True)
    cfg = transformers.BertConfig(vocab_size=30522, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                  intermediate_size=128, max_position_embeddings=128, num_labels=3)
    m = transformers.BertForSequenceClassification(cfg)
    randomize(m)
    d = os.path.join(root, "bert")
    m.save_pretrained(d)
    bert_tok.save_pretrained(d)
    rows += check("bert", d, bert_tok, m, "cls")

    # RoBERTa: RobertaForSequenceClassification saved in bfloat16; its vocabulary = GPT-2's with RoBERTa's
    # specials first (as roberta-base orders them).
    gpt2_vocab = json.load(open(os.path.join(DATA, "gpt2", "vocab.json"), encoding="utf-8"))
    rv = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for tkn, i in sorted(gpt2_vocab.items(), key=lambda kv: kv[1]):
        if tkn not in rv:
            rv[tkn] = len(rv)
    rv["<mask>"] = len(rv)
    vdir = os.path.join(root, "roberta-vocab")
    os.makedirs(vdir)
    json.dump(rv, open(os.path.join(vdir, "vocab.json"), "w", encoding="utf-8"), ensure_ascii=False)
    rob_tok = tokenizer_class("RobertaTokenizerFast", "RobertaTokenizer")(
        vocab_file=os.path.join(vdir, "vocab.json"), merges_file=os.path.join(DATA, "gpt2", "merges.txt"))
    cfg = transformers.RobertaConfig(vocab_size=len(rv), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=128, max_position_embeddings=130, type_vocab_size=1,
                                     pad_token_id=1, bos_token_id=0, eos_token_id=2, num_labels=2)
    m = transformers.RobertaForSequenceClassification(cfg)
    randomize(m)
    m = m.to(torch.bfloat16)
    d = os.path.join(root, "roberta")
    m.save_pretrained(d)
    rob_tok.save_pretrained(d)
    rows += check("roberta", d, rob_tok, m.float(), "cls")

    # GPT-2: GPT2LMHeadModel, float32, tied embeddings, next-token logits over the whole vocabulary.
    gpt_tok = tokenizer_class("GPT2TokenizerFast", "GPT2Tokenizer")(
        vocab_file=os.path.join(DATA, "gpt2", "vocab.json"), merges_file=os.path.join(DATA, "gpt2", "merges.txt"))
    cfg = transformers.GPT2Config(vocab_size=50257, n_embd=64, n_layer=2, n_head=4, n_positions=128)
    m = transformers.GPT2LMHeadModel(cfg)
    randomize(m)
    m.tie_weights()
    d = os.path.join(root, "gpt2")
    m.save_pretrained(d)
    gpt_tok.save_pretrained(d)
    rows += check("gpt2", d, gpt_tok, m, "lm")

    bad = [r for r in rows if not r["ok"]]
    print("%d of %d inputs match Hugging Face (ids equal, logits within 1e-4 relative); worst |Δlogit| %.2e" % (
        len(rows) - len(bad), len(rows), max(r["max_abs_diff"] for r in rows)))
    for f in sorted(os.listdir(os.path.join(root, "bert"))):
        print("  saved bert/", f)
    if OUT:
        json.dump({"torch": torch.__version__, "transformers": transformers.__version__, "rows": rows},
                  open(OUT, "w"), indent=1, ensure_ascii=False)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
