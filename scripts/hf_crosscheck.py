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
import shutil
import subprocess
import sys
import tempfile

import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

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


def check(name, folder, encode, model, head):
    """encode(text, pair) -> (ids, token type ids or None), as Hugging Face's tokenizer computes them."""
    model.eval()
    rows = []
    for text, pair in TEXTS:
        ids, types = encode(text, pair)
        kwargs = {"input_ids": torch.tensor([ids])}
        if types is not None:
            kwargs["token_type_ids"] = torch.tensor([types])
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
        if not row["ids_equal"]:
            print("   Hugging Face ids", ids, "\n   peftwb ids      ", j["ids"], flush=True)
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
    def bert_encode(text, pair):
        enc = bert_tok(text, pair) if pair is not None else bert_tok(text)
        return list(enc["input_ids"]), list(enc["token_type_ids"])

    rows += check("bert", d, bert_encode, m, "cls")

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
    # The tokenizers library itself (Hugging Face's Rust tokenizers), configured as roberta-base's
    # tokenizer.json is: byte-level BPE, no prefix space, RobertaProcessing; saved as tokenizer.json alone.
    rob_tok = Tokenizer(models.BPE.from_file(os.path.join(vdir, "vocab.json"), os.path.join(DATA, "gpt2", "merges.txt")))
    rob_tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    rob_tok.decoder = decoders.ByteLevel()
    rob_tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    rob_tok.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    cfg = transformers.RobertaConfig(vocab_size=len(rv), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=128, max_position_embeddings=130, type_vocab_size=1,
                                     pad_token_id=1, bos_token_id=0, eos_token_id=2, num_labels=2)
    m = transformers.RobertaForSequenceClassification(cfg)
    randomize(m)
    m = m.to(torch.bfloat16)
    d = os.path.join(root, "roberta")
    m.save_pretrained(d)
    rob_tok.save(os.path.join(d, "tokenizer.json"))

    def rob_encode(text, pair):
        enc = rob_tok.encode(text, pair) if pair is not None else rob_tok.encode(text)
        return enc.ids, None

    rows += check("roberta", d, rob_encode, m.float(), "cls")

    # GPT-2: GPT2LMHeadModel, float32, tied embeddings, next-token logits over the whole vocabulary.
    gpt_tok = Tokenizer(models.BPE.from_file(os.path.join(DATA, "gpt2", "vocab.json"),
                                             os.path.join(DATA, "gpt2", "merges.txt")))
    gpt_tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    gpt_tok.decoder = decoders.ByteLevel()
    gpt_tok.post_processor = processors.ByteLevel(trim_offsets=False)
    gpt_tok.add_special_tokens(["<|endoftext|>"])
    cfg = transformers.GPT2Config(vocab_size=50257, n_embd=64, n_layer=2, n_head=4, n_positions=128)
    m = transformers.GPT2LMHeadModel(cfg)
    randomize(m)
    m.tie_weights()
    d = os.path.join(root, "gpt2")
    m.save_pretrained(d)
    for f in ("vocab.json", "merges.txt"):  # the vocabulary files, no tokenizer.json
        shutil.copy(os.path.join(DATA, "gpt2", f), os.path.join(d, f))

    def gpt_encode(text, pair):
        enc = gpt_tok.encode(text, pair) if pair is not None else gpt_tok.encode(text)
        return enc.ids, None

    rows += check("gpt2", d, gpt_encode, m, "lm")

    bad = [r for r in rows if not r["ok"]]
    print("%d of %d inputs match Hugging Face (ids equal, logits within 1e-4 relative); worst |Δlogit| %.2e" % (
        len(rows) - len(bad), len(rows), max(r["max_abs_diff"] for r in rows)))
    for name in ("bert", "roberta", "gpt2"):
        print("  %s: %s" % (name, " ".join(sorted(os.listdir(os.path.join(root, name))))))
    if OUT:
        json.dump({"torch": torch.__version__, "transformers": transformers.__version__, "rows": rows},
                  open(OUT, "w"), indent=1, ensure_ascii=False)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
