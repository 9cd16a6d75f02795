// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The statistics of a study, stated: the mean, the sample standard deviation (n − 1), and the 95 % confidence
// interval mean ± t(0.975, n − 1)·sd/√n of Student's t distribution, for one arm over seeds and for the
// paired difference of two arms (same seed, same data order). A verdict is read off the paired interval. No
// torch.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace peft {

struct Summary {
    int64_t n = 0;
    double mean = 0;
    double sd = 0;  // sample standard deviation (n − 1); 0 when n < 2
    double lo = 0;  // the 95 % t interval; equal to the mean when n < 2 (no interval: see hasInterval)
    double hi = 0;
    bool hasInterval() const { return n >= 2; }
};

/// Mean, sample sd and the two-sided 95 % Student-t interval of `values` (an empty list: n = 0).
Summary summarize(const std::vector<double>& values);

/// The two-sided 95 % critical value t(0.975, df) of Student's t distribution (df ≥ 1), from its CDF by the
/// regularized incomplete beta function, solved by bisection (to 1e-10).
double studentT975(int64_t df);
/// Student's t CDF at `t` with `df` degrees of freedom.
double studentTCdf(double t, double df);

/// The smallest number of seeds n ≥ 2 at which an interval of a paired difference with this mean and sd
/// would exclude 0 (t(0.975, n − 1)·sd/√n < |mean|); −1 when the mean is 0 (no seed count will do), capped
/// at 100,000.
int64_t seedsNeeded(double mean, double sd);

enum class VerdictKind { Agrees, Disagrees, Inconclusive };
const char* toString(VerdictKind k);

struct Verdict {
    VerdictKind kind = VerdictKind::Inconclusive;
    Summary difference;        // better − worse over the paired seeds (a gate: value − bar over the seeds)
    int64_t seeds_needed = 0;  // for an inconclusive verdict: seedsNeeded at the observed mean and sd
    std::string text;          // one sentence saying all of it
};

/// The verdict on "better > worse" from paired values (one pair per seed both finished): agrees when the
/// interval of the difference lies above 0, disagrees when below, inconclusive otherwise (and with fewer than
/// two pairs).
Verdict pairedVerdict(const std::vector<std::pair<double, double>>& betterWorse);

/// The verdict on a gate "the mean reaches `atLeast`" from one value per seed: Agrees (met) when the 95 %
/// interval of value − atLeast lies at or above 0, Disagrees (not met) when below, inconclusive otherwise (and
/// with fewer than two seeds), with the seeds that would decide it.
Verdict gateVerdict(const std::vector<double>& values, double atLeast);

}  // namespace peft
