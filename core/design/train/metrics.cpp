// SPDX-License-Identifier: GPL-3.0-or-later
#include "train/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <regex>
#include <set>

#include "util/error.h"

namespace peft {

double accuracy(const std::vector<int64_t>& predicted, const std::vector<int64_t>& gold) {
    if (predicted.size() != gold.size())
        throw Error("accuracy", std::to_string(predicted.size()) + " predictions for " +
                                    std::to_string(gold.size()) + " references");
    if (gold.empty()) return 0.0;
    int64_t hit = 0;
    for (size_t i = 0; i < gold.size(); ++i)
        hit += predicted[i] == gold[i];
    return double(hit) / double(gold.size());
}

double macroF1(const std::vector<int64_t>& predicted, const std::vector<int64_t>& gold) {
    if (predicted.size() != gold.size())
        throw Error("macro_f1", "predictions and references differ in length");
    std::set<int64_t> classes(gold.begin(), gold.end());
    classes.insert(predicted.begin(), predicted.end());
    if (classes.empty()) return 0.0;
    double sum = 0;
    for (int64_t c : classes) {
        int64_t tp = 0, fp = 0, fn = 0;
        for (size_t i = 0; i < gold.size(); ++i) {
            tp += predicted[i] == c && gold[i] == c;
            fp += predicted[i] == c && gold[i] != c;
            fn += predicted[i] != c && gold[i] == c;
        }
        const double denom = 2.0 * tp + fp + fn;
        sum += denom > 0 ? 2.0 * tp / denom : 0.0;
    }
    return sum / double(classes.size());
}

double perplexity(double total_nll, int64_t tokens) {
    return tokens > 0 ? std::exp(total_nll / double(tokens)) : 0.0;
}

// ----- ROUGE -----------------------------------------------------------------------------------------

std::vector<std::string> rougeTokenize(const std::string& text) {
    std::vector<std::string> out;
    std::string cur;
    for (unsigned char ch : text) {
        // Python's str.lower() then re.sub(r"[^a-z0-9]+", " "): non-ASCII bytes are separators.
        char c = static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            cur += c;
        } else if (!cur.empty()) {
            out.push_back(cur);
            cur.clear();
        }
    }
    if (!cur.empty()) out.push_back(cur);
    return out;
}

namespace {

RougeScore prf(int64_t overlap, int64_t predCount, int64_t targetCount) {
    RougeScore s;
    s.precision = double(overlap) / double(std::max<int64_t>(predCount, 1));
    s.recall = double(overlap) / double(std::max<int64_t>(targetCount, 1));
    s.fmeasure = s.precision + s.recall > 0 ? 2 * s.precision * s.recall / (s.precision + s.recall) : 0.0;
    return s;
}

std::map<std::vector<std::string>, int64_t> ngrams(const std::vector<std::string>& t, size_t n) {
    std::map<std::vector<std::string>, int64_t> out;
    for (size_t i = 0; i + n <= t.size(); ++i)
        ++out[std::vector<std::string>(t.begin() + i, t.begin() + i + n)];
    return out;
}

RougeScore rougeN(const std::vector<std::string>& target, const std::vector<std::string>& pred, size_t n) {
    const auto tg = ngrams(target, n), pg = ngrams(pred, n);
    int64_t overlap = 0, tc = 0, pc = 0;
    for (const auto& [g, c] : tg) {
        tc += c;
        auto it = pg.find(g);
        if (it != pg.end()) overlap += std::min(c, it->second);
    }
    for (const auto& kv : pg)
        pc += kv.second;
    return prf(overlap, pc, tc);
}

RougeScore rougeL(const std::vector<std::string>& target, const std::vector<std::string>& pred) {
    if (target.empty() || pred.empty()) return {};
    std::vector<std::vector<int64_t>> dp(target.size() + 1, std::vector<int64_t>(pred.size() + 1, 0));
    for (size_t i = 1; i <= target.size(); ++i)
        for (size_t j = 1; j <= pred.size(); ++j)
            dp[i][j] =
                target[i - 1] == pred[j - 1] ? dp[i - 1][j - 1] + 1 : std::max(dp[i - 1][j], dp[i][j - 1]);
    return prf(dp[target.size()][pred.size()], int64_t(pred.size()), int64_t(target.size()));
}

}  // namespace

Rouge rougeScore(const std::string& target, const std::string& prediction) {
    const auto t = rougeTokenize(target), p = rougeTokenize(prediction);
    return {rougeN(t, p, 1), rougeN(t, p, 2), rougeL(t, p)};
}

Rouge rougeScoreMulti(const std::vector<std::string>& targets, const std::string& prediction) {
    Rouge best;
    bool first = true;
    for (const auto& t : targets) {
        const Rouge r = rougeScore(t, prediction);
        if (first || r.rouge1.fmeasure > best.rouge1.fmeasure) best.rouge1 = r.rouge1;
        if (first || r.rouge2.fmeasure > best.rouge2.fmeasure) best.rouge2 = r.rouge2;
        if (first || r.rougeL.fmeasure > best.rougeL.fmeasure) best.rougeL = r.rougeL;
        first = false;
    }
    return best;
}

namespace {

void checkLayout(const std::vector<std::string>& hyps, const std::vector<std::vector<std::string>>& refs) {
    if (refs.empty()) throw Error("references", "at least one reference set is needed");
    for (size_t k = 0; k < refs.size(); ++k)
        if (refs[k].size() != hyps.size())
            throw Error("references[" + std::to_string(k) + "]", std::to_string(refs[k].size()) +
                                                                     " segments, but the hypotheses have " +
                                                                     std::to_string(hyps.size()));
}

}  // namespace

Rouge corpusRouge(const std::vector<std::string>& hyps, const std::vector<std::vector<std::string>>& refs) {
    checkLayout(hyps, refs);
    Rouge sum;
    for (size_t i = 0; i < hyps.size(); ++i) {
        std::vector<std::string> targets;
        for (const auto& r : refs)
            targets.push_back(r[i]);
        const Rouge s = rougeScoreMulti(targets, hyps[i]);
        for (auto [acc, one] :
             {std::pair{&sum.rouge1, &s.rouge1}, {&sum.rouge2, &s.rouge2}, {&sum.rougeL, &s.rougeL}}) {
            acc->precision += one->precision;
            acc->recall += one->recall;
            acc->fmeasure += one->fmeasure;
        }
    }
    if (!hyps.empty())
        for (RougeScore* acc : {&sum.rouge1, &sum.rouge2, &sum.rougeL}) {
            acc->precision /= double(hyps.size());
            acc->recall /= double(hyps.size());
            acc->fmeasure /= double(hyps.size());
        }
    return sum;
}

// ----- BLEU ------------------------------------------------------------------------------------------

std::vector<std::string> tokenize13a(const std::string& input) {
    std::string line = input;
    auto replaceAll = [&](const std::string& from, const std::string& to) {
        for (size_t pos = 0; (pos = line.find(from, pos)) != std::string::npos; pos += to.size())
            line.replace(pos, from.size(), to);
    };
    replaceAll("<skipped>", "");
    replaceAll("-\n", "");
    replaceAll("\n", " ");
    if (line.find('&') != std::string::npos) {
        replaceAll("&quot;", "\"");
        replaceAll("&amp;", "&");
        replaceAll("&lt;", "<");
        replaceAll("&gt;", ">");
    }
    line = " " + line + " ";
    static const std::regex punct(R"(([\{-\~\[-\` -\&\(-\+\:-\@\/]))");
    static const std::regex periodComma1(R"(([^0-9])([\.,]))");
    static const std::regex periodComma2(R"(([\.,])([^0-9]))");
    static const std::regex dash(R"(([0-9])(-))");
    line = std::regex_replace(line, punct, " $1 ");
    line = std::regex_replace(line, periodComma1, "$1 $2 ");
    line = std::regex_replace(line, periodComma2, " $1 $2");
    line = std::regex_replace(line, dash, "$1 $2 ");
    std::vector<std::string> out;
    std::string cur;
    for (char c : line) {
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
            if (!cur.empty()) out.push_back(cur), cur.clear();
        } else {
            cur += c;
        }
    }
    if (!cur.empty()) out.push_back(cur);
    return out;
}

Bleu corpusBleu(const std::vector<std::string>& hyps, const std::vector<std::vector<std::string>>& refs) {
    checkLayout(hyps, refs);
    int64_t correct[4] = {0, 0, 0, 0}, total[4] = {0, 0, 0, 0};
    Bleu b;
    for (size_t i = 0; i < hyps.size(); ++i) {
        const auto hyp = tokenize13a(hyps[i]);
        std::vector<std::vector<std::string>> rtoks;
        for (const auto& r : refs)
            rtoks.push_back(tokenize13a(r[i]));
        // Closest reference length; ties go to the shorter one.
        int64_t best = -1;
        for (const auto& r : rtoks) {
            const int64_t len = int64_t(r.size()), hl = int64_t(hyp.size());
            if (best < 0 || std::abs(len - hl) < std::abs(best - hl) ||
                (std::abs(len - hl) == std::abs(best - hl) && len < best))
                best = len;
        }
        b.sys_len += int64_t(hyp.size());
        b.ref_len += best;
        for (size_t n = 1; n <= 4; ++n) {
            const auto hg = ngrams(hyp, n);
            std::map<std::vector<std::string>, int64_t> maxRef;
            for (const auto& r : rtoks)
                for (const auto& [g, c] : ngrams(r, n))
                    maxRef[g] = std::max(maxRef[g], c);
            for (const auto& [g, c] : hg) {
                total[n - 1] += c;
                auto it = maxRef.find(g);
                if (it != maxRef.end()) correct[n - 1] += std::min(c, it->second);
            }
        }
    }
    double smooth = 1.0;
    for (int n = 0; n < 4; ++n) {
        if (total[n] == 0) break;
        if (correct[n] == 0) {
            smooth *= 2;
            b.precisions[n] = 100.0 / (smooth * double(total[n]));
        } else {
            b.precisions[n] = 100.0 * double(correct[n]) / double(total[n]);
        }
    }
    b.bp = b.sys_len < b.ref_len
               ? (b.sys_len > 0 ? std::exp(1.0 - double(b.ref_len) / double(b.sys_len)) : 0.0)
               : 1.0;
    double logSum = 0;
    for (double p : b.precisions)
        logSum += p > 0 ? std::log(p) : -9999999999.0;
    b.score = b.bp * std::exp(logSum / 4.0);
    return b;
}

std::string Bleu::text() const {
    char buf[200];
    std::snprintf(buf, sizeof buf,
                  "BLEU = %.2f %.1f/%.1f/%.1f/%.1f (BP = %.3f ratio = %.3f hyp_len = %lld ref_len = %lld)",
                  score, precisions[0], precisions[1], precisions[2], precisions[3], bp,
                  ref_len > 0 ? double(sys_len) / double(ref_len) : 0.0, static_cast<long long>(sys_len),
                  static_cast<long long>(ref_len));
    return buf;
}

std::pair<double, double> wilsonInterval(double p, int64_t n, double z) {
    if (n <= 0) return {0.0, 1.0};
    const double nn = double(n), z2 = z * z;
    const double centre = (p + z2 / (2 * nn)) / (1 + z2 / nn);
    const double half = z / (1 + z2 / nn) * std::sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn));
    return {std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

}  // namespace peft
