// SPDX-License-Identifier: GPL-3.0-or-later
// Metrics against hand-computed cases and values the reference tools publish.
#include <QtTest>

#include "train/metrics.h"
#include "train/schedule.h"

using namespace peft;

class TestMetrics : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void accuracyAndMacroF1ByHand() {
        const std::vector<int64_t> pred{0, 1, 1, 2}, gold{0, 1, 2, 2};
        QCOMPARE(accuracy(pred, gold), 0.75);
        // class 0: F1 1; class 1: tp 1, fp 1 → 2/3; class 2: tp 1, fn 1 → 2/3.
        QVERIFY(qAbs(macroF1(pred, gold) - (1.0 + 2.0 / 3 + 2.0 / 3) / 3) < 1e-12);
        QCOMPARE(perplexity(0.0, 10), 1.0);
        QVERIFY(qAbs(perplexity(10 * std::log(4.0), 10) - 4.0) < 1e-12);
    }

    // google-research/rouge (rouge-score) README:
    //   scorer.score('The quick brown fox jumps over the lazy dog', 'The quick brown dog jumps on the log.')
    //   rouge1: precision=0.75, recall=0.6666666666666666, fmeasure=0.7058823529411765
    //   rougeL: precision=0.625, recall=0.5555555555555556, fmeasure=0.5882352941176471
    void rougeMatchesRougeScoreReadme() {
        const Rouge r = rougeScore("The quick brown fox jumps over the lazy dog",
                                   "The quick brown dog jumps on the log.");
        QVERIFY(qAbs(r.rouge1.precision - 0.75) < 1e-12);
        QVERIFY(qAbs(r.rouge1.recall - 0.6666666666666666) < 1e-12);
        QVERIFY(qAbs(r.rouge1.fmeasure - 0.7058823529411765) < 1e-12);
        QVERIFY(qAbs(r.rougeL.precision - 0.625) < 1e-12);
        QVERIFY(qAbs(r.rougeL.recall - 0.5555555555555556) < 1e-12);
        QVERIFY(qAbs(r.rougeL.fmeasure - 0.5882352941176471) < 1e-12);
        // ROUGE-2 by hand: 2 shared bigrams ("the quick", "quick brown") of 7 predicted and 8 reference ones.
        QVERIFY(qAbs(r.rouge2.precision - 2.0 / 7) < 1e-12);
        QVERIFY(qAbs(r.rouge2.recall - 2.0 / 8) < 1e-12);
    }

    void rougeTokenizerAndEdgeCases() {
        QCOMPARE(rougeTokenize("Hello, World! 3.5 naïve"),
                 (std::vector<std::string>{"hello", "world", "3", "5", "na", "ve"}));
        QCOMPARE(rougeScore("", "anything").rougeL.fmeasure, 0.0);
        QCOMPARE(rougeScore("same words", "same words").rouge2.fmeasure, 1.0);
        // Several references: the best F per type.
        const Rouge m = rougeScoreMulti({"a b c", "x y z"}, "x y z");
        QCOMPARE(m.rouge1.fmeasure, 1.0);
        const Rouge c = corpusRouge({"a b", "c d"}, {{"a b", "x y"}});
        QCOMPARE(c.rouge1.fmeasure, 0.5);  // mean of 1 and 0
    }

    // sacreBLEU README: BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)
    void bleuMatchesSacreBleuReadme() {
        const std::vector<std::string> sys = {"The dog bit the man.", "It wasn't surprising.",
                                              "The man had just bitten him."};
        const std::vector<std::vector<std::string>> refs = {
            {"The dog bit the man.", "It was not unexpected.", "The man bit him first."},
            {"The dog had just bitten the man.", "No one was surprised.", "The man had bitten the dog."}};
        const Bleu b = corpusBleu(sys, refs);
        QCOMPARE(
            QString::fromStdString(b.text()),
            QStringLiteral(
                "BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)"));
    }

    void bleuEdgeCases() {
        QCOMPARE(corpusBleu({"a b c d e"}, {{"a b c d e"}}).score, 100.0);
        QCOMPARE(corpusBleu({""}, {{"a b c"}}).score, 0.0);
        // No 4-gram match: exponential smoothing keeps the score positive (sacreBLEU's default 'exp').
        const Bleu b = corpusBleu({"a b c x"}, {{"a b c d"}});
        QVERIFY(b.score > 0 && b.score < 100);
        QVERIFY(qAbs(b.precisions[3] - 100.0 / 2.0) < 1e-9);  // 0 of 1 four-gram → 100 / (2 · 1)
        QVERIFY_THROWS_EXCEPTION(std::exception, corpusBleu({"a", "b"}, {{"a"}}));
    }

    // mteval-v13a by hand: punctuation split, periods and commas split unless between digits, dash after a
    // digit.
    void tokenizer13a() {
        QCOMPARE(tokenize13a("Hello, world. It's 3.5-4"),
                 (std::vector<std::string>{"Hello", ",", "world", ".", "It's", "3.5", "-", "4"}));
        QCOMPARE(tokenize13a("a&amp;b (c)"), (std::vector<std::string>{"a", "&", "b", "(", "c", ")"}));
    }

    void schedules() {
        QCOMPARE(lrFactor(Schedule::Linear, 5, 10, 110), 0.5);   // warmup
        QCOMPARE(lrFactor(Schedule::Linear, 60, 10, 110), 0.5);  // halfway through the decay
        QCOMPARE(lrFactor(Schedule::Linear, 110, 10, 110), 0.0);
        QVERIFY(qAbs(lrFactor(Schedule::Cosine, 60, 10, 110) - 0.5) < 1e-12);
        QCOMPARE(lrFactor(Schedule::Constant, 100, 10, 110), 1.0);
    }
};

QTEST_APPLESS_MAIN(TestMetrics)
#include "test_metrics.moc"
