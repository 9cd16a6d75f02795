#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Four measurements behind docs/quality-gates.md's "Why entailment stays below the gate".

  entailment_analysis.py bound
      The dev accuracy a reader of word presence alone reaches on the built-in entailment task: it knows
      which names, places, objects and colour-object pairs the premise mentions, but never which name a
      fact belongs to. The generator below follows World::entailment (core/data/world.cpp) rule by rule
      (people, premise, label, hypothesis forms and their probabilities), with word ids for words.

  entailment_analysis.py presence-task OUTDIR
      Writes OUTDIR/train.tsv (20,000 rows) and OUTDIR/dev.tsv (500): eight distinct places / objects, " . ",
      then a query word; label 1 when the query is one of the eight. Nothing but matching a word against its
      context. Train with e.g.
      peftwb train --data OUTDIR/train.tsv --dev OUTDIR/dev.tsv --preset full --random-init --lr 3e-4 ...

  entailment_analysis.py compare-task NAMES_FROM.tsv OUTDIR
      Writes OUTDIR/train.tsv (30,000 rows) and OUTDIR/dev.tsv (500): entailment premises as the task writes
      them, but only hypotheses that turn on comparing a place or a colour with the premise's (entailment /
      contradiction, balanced). Names are taken from a predictions file of the task (PREDICTIONS.tsv below),
      so every word is the world's. Fine-tune with --data OUTDIR/train.tsv --dev OUTDIR/dev.tsv.

  entailment_analysis.py errors PREDICTIONS.tsv
      A fine-tuned model's dev accuracy by kind of example: the hypothesis' form (in / not in / has OBJECT /
      has COLOUR OBJECT), what the premise says of its name (a place, an object, nothing), and the gold label,
      with what the model answered. PREDICTIONS.tsv is written by
      peftwb eval --checkpoint CK --task entailment --predictions PREDICTIONS.tsv
"""
import random
import sys
from collections import Counter

PLACES, OBJECTS, COLORS, NAMES = range(20), range(40), range(10), range(400)


def generate(r):
    names = list(NAMES)
    r.shuffle(names)
    n = 2 + r.randrange(2)
    people = [dict(name=names[i], place=r.choice(PLACES), obj=r.choice(OBJECTS), col=r.choice(COLORS),
                   says_place=r.random() < 0.5) for i in range(n)]
    stranger, label, p = names[n], r.randrange(3), r.choice(people)

    def other(values, x):
        while True:
            q = r.choice(values)
            if q != x:
                return q

    if label == 0:
        if p["says_place"]:
            h = ("in", p["name"], p["place"]) if r.random() < 0.5 else ("notin", p["name"], other(PLACES, p["place"]))
        else:
            h = ("has", p["name"], p["obj"], None) if r.random() < 0.5 else ("has", p["name"], p["obj"], p["col"])
    elif label == 1:
        if r.random() < 0.5:
            h = (("in", stranger, r.choice(PLACES)) if r.random() < 0.5
                 else ("has", stranger, r.choice(OBJECTS), r.choice(COLORS)))
        else:
            h = (("has", p["name"], r.choice(OBJECTS), r.choice(COLORS)) if p["says_place"]
                 else ("in", p["name"], r.choice(PLACES)))
    else:
        if p["says_place"]:
            h = ("in", p["name"], other(PLACES, p["place"])) if r.random() < 0.5 else ("notin", p["name"], p["place"])
        else:
            h = ("has", p["name"], p["obj"], other(COLORS, p["col"]))
    return people, h, label


def presence_reader(people, h):
    places = {q["place"] for q in people if q["says_place"]}
    objects = {q["obj"] for q in people if not q["says_place"]}
    pairs = {(q["col"], q["obj"]) for q in people if not q["says_place"]}
    names = {q["name"] for q in people}
    if h[0] == "notin":
        return 2 if h[2] in places else 0
    if h[1] not in names:
        return 1
    if h[0] == "in":
        return 0 if h[2] in places else (2 if places else 1)
    if h[3] is None:
        return 0
    if h[2] not in objects:
        return 1
    return 0 if (h[3], h[2]) in pairs else 2


def bound(n=20000):
    r = random.Random(0)
    right, confusion = 0, Counter()
    for _ in range(n):
        people, h, label = generate(r)
        guess = presence_reader(people, h)
        right += guess == label
        confusion[(h[0], label, guess)] += 1
    print(f"presence-only reader: {right / n:.4f} of {n} generated examples")
    for (form, label, guess), count in sorted(confusion.items()):
        print(f"  hypothesis '{form}', label {label}, read as {guess}: {count}")


def presence_task(out):
    r = random.Random(0)
    words = ("kitchen garden market school park library station forest beach office harbor museum bakery river "
             "tower bridge farm village castle shop ball book apple cup lamp key hat box letter phone bike coin "
             "map chair clock shoe bag pen plate ring kite drum vase rope brush candle basket mirror ladder jar "
             "glove blanket bottle camera guitar hammer pillow ticket wallet whistle").split()
    for name, n in (("train", 20000), ("dev", 500)):
        with open(f"{out}/{name}.tsv", "w") as f:
            f.write("sentence\tlabel\n")
            for _ in range(n):
                context, present = r.sample(words, 8), r.random() < 0.5
                query = r.choice(context) if present else r.choice([w for w in words if w not in context])
                f.write(f"{' '.join(context)} . {query}\t{int(present)}\n")


def compare_task(names_from, out):
    names = set()
    with open(names_from) as f:
        next(f)
        for line in f:
            text = line.rstrip("\n").split("\t")[3]
            names.update(fact.split()[0] for fact in text[:text.index(" . ")].split(" and "))
    names = sorted(names)
    places = ("kitchen garden market school park library station forest beach office harbor museum bakery river "
              "tower bridge farm village castle shop").split()
    objects = ("ball book apple cup lamp key hat box letter phone bike coin map chair clock shoe bag pen plate ring "
               "kite drum vase rope brush candle basket mirror ladder jar glove blanket bottle camera guitar hammer "
               "pillow ticket wallet whistle").split()
    colors = "red blue green yellow black white brown pink gray orange".split()
    for split, seed, n in (("train", 1, 30000), ("dev", 2, 500)):
        r = random.Random(seed)

        def other(values, x):
            while True:
                q = r.choice(values)
                if q != x:
                    return q

        with open(f"{out}/{split}.tsv", "w") as f:
            f.write("sentence1\tsentence2\tlabel\n")
            for _ in range(n):
                people = [(name, r.choice(places), r.choice(objects), r.choice(colors), r.random() < 0.5)
                          for name in r.sample(names, 2 + r.randrange(2))]
                premise = " and ".join(f"{a} is in the {p}" if says_place else f"{a} has a {c} {o}"
                                       for a, p, o, c, says_place in people) + " ."
                a, p, o, c, says_place = r.choice(people)
                entailed = r.random() < 0.5
                if says_place and r.random() < 0.5:
                    hypothesis = f"{a} is in the {p if entailed else other(places, p)}"
                elif says_place:
                    hypothesis = f"{a} is not in the {other(places, p) if entailed else p}"
                else:
                    hypothesis = f"{a} has a {c if entailed else other(colors, c)} {o}"
                f.write(f"{premise}\t{hypothesis} .\t{'entailment' if entailed else 'contradiction'}\n")


def errors(path):
    cells = Counter()
    answers = {}
    with open(path) as f:
        next(f)  # index gold predicted input
        for line in f:
            _, gold, predicted, text = line.rstrip("\n").split("\t")
            cut = text.index(" . ") + 3  # the premise ends at its first full stop, then the hypothesis
            premise, hypothesis = text[:cut].split(), text[cut:].split()
            name = hypothesis[0]
            form = ("not in" if "not" in hypothesis else "in" if "in" in hypothesis
                    else "has COLOUR OBJECT" if len(hypothesis) == 6 else "has OBJECT")
            facts = " ".join(premise[:-1]).split(" and ")
            said = [fact for fact in facts if fact.split()[0] == name]
            about = "nothing" if not said else "its place" if " in the " in said[0] else "its object"
            key = (form, about, gold)
            cells[key, "n"] += 1
            cells[key, "right"] += gold == predicted
            answers.setdefault(key, Counter())[predicted] += 1
    print(f"{'hypothesis':<18} {'premise says':<12} {'gold':<14} {'n':>4} {'accuracy':>8}  answers")
    for key in sorted(answers):
        n = cells[key, "n"]
        spread = ", ".join(f"{label} {count}" for label, count in answers[key].most_common())
        print(f"{key[0]:<18} {key[1]:<12} {key[2]:<14} {n:>4} {cells[key, 'right'] / n:>8.2f}  {spread}")


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] == "bound":
        bound()
    elif len(sys.argv) == 3 and sys.argv[1] == "presence-task":
        presence_task(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "compare-task":
        compare_task(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "errors":
        errors(sys.argv[2])
    else:
        sys.exit(__doc__)
