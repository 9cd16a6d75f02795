// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Task metrics, no torch: accuracy, macro-F1, perplexity, ROUGE-1/2/L (as Google's rouge-score computes
// them: lower-case, non-alphanumerics to spaces, no stemming) and corpus BLEU (as sacreBLEU computes it:
// 13a tokenisation, exponential smoothing, brevity penalty against the closest reference length).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace peft {

double accuracy(const std::vector<int64_t>& predicted, const std::vector<int64_t>& gold);
/// Unweighted mean of per-class F1 over the classes that occur in gold or predictions.
double macroF1(const std::vector<int64_t>& predicted, const std::vector<int64_t>& gold);
/// exp of the mean negative log-likelihood per token.
double perplexity(double total_nll, int64_t tokens);

/// The Wilson score interval of a proportion `p` observed on `n` independent trials at confidence z (1.96:
/// 95 %) — for an accuracy on n examples. {lower, upper}, within [0, 1]; {0, 1} when n is 0.
std::pair<double, double> wilsonInterval(double p, int64_t n, double z = 1.959963984540054);

struct RougeScore {
    double precision = 0, recall = 0, fmeasure = 0;
};
struct Rouge {
    RougeScore rouge1, rouge2, rougeL;
};

/// rouge-score's default tokenizer: lower-case, every run of characters outside [a-z0-9] becomes a space.
std::vector<std::string> rougeTokenize(const std::string& text);
/// One segment, as rouge_scorer.RougeScorer(['rouge1','rouge2','rougeL']).score(target, prediction).
Rouge rougeScore(const std::string& target, const std::string& prediction);
/// Several references: per type, the reference with the best F-measure (rouge-score's score_multi).
Rouge rougeScoreMulti(const std::vector<std::string>& targets, const std::string& prediction);
/// Mean over segments. refs[k][i] is reference k of segment i.
Rouge corpusRouge(const std::vector<std::string>& hyps, const std::vector<std::vector<std::string>>& refs);

/// sacreBLEU's tokenizer_13a (mteval-v13a).
std::vector<std::string> tokenize13a(const std::string& line);

struct Bleu {
    double score = 0;  // 0–100
    double precisions[4] = {0, 0, 0, 0};
    double bp = 0;
    int64_t sys_len = 0, ref_len = 0;
    std::string text()
        const;  // "BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)"
};
/// Corpus BLEU; refs[k][i] is reference k of segment i (sacreBLEU's layout).
Bleu corpusBleu(const std::vector<std::string>& hyps, const std::vector<std::vector<std::string>>& refs);

}  // namespace peft
