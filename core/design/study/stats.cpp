// SPDX-License-Identifier: GPL-3.0-or-later
#include "study/stats.h"

#include <cmath>
#include <cstdio>
#include <limits>

namespace peft {

namespace {

/// The continued fraction of the regularized incomplete beta function (modified Lentz).
double betaContinuedFraction(double a, double b, double x) {
    constexpr double tiny = 1e-300, eps = 1e-15;
    double c = 1, d = 1 - (a + b) * x / (a + 1);
    if (std::fabs(d) < tiny) d = tiny;
    d = 1 / d;
    double h = d;
    for (int m = 1; m <= 1000; ++m) {
        const double m2 = 2.0 * m;
        double aa = m * (b - m) * x / ((a + m2 - 1) * (a + m2));
        d = 1 + aa * d;
        if (std::fabs(d) < tiny) d = tiny;
        c = 1 + aa / c;
        if (std::fabs(c) < tiny) c = tiny;
        d = 1 / d;
        h *= d * c;
        aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1));
        d = 1 + aa * d;
        if (std::fabs(d) < tiny) d = tiny;
        c = 1 + aa / c;
        if (std::fabs(c) < tiny) c = tiny;
        d = 1 / d;
        const double del = d * c;
        h *= del;
        if (std::fabs(del - 1) < eps) break;
    }
    return h;
}

/// I_x(a, b), the regularized incomplete beta function.
double incompleteBeta(double a, double b, double x) {
    if (x <= 0) return 0;
    if (x >= 1) return 1;
    const double front =
        std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x));
    if (x < (a + 1) / (a + b + 2)) return front * betaContinuedFraction(a, b, x) / a;
    return 1 - front * betaContinuedFraction(b, a, 1 - x) / b;
}

std::string fixed(double v, int digits = 3) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%+.*f", digits, v);
    return buf;
}

}  // namespace

double studentTCdf(double t, double df) {
    const double x = df / (df + t * t);
    const double tail = 0.5 * incompleteBeta(df / 2, 0.5, x);  // P(T > |t|)
    return t >= 0 ? 1 - tail : tail;
}

double studentT975(int64_t df) {
    if (df < 1) return std::numeric_limits<double>::quiet_NaN();
    double lo = 0, hi = 1000;  // t(0.975, 1) = 12.7; the CDF is increasing
    while (hi - lo > 1e-10) {
        const double mid = 0.5 * (lo + hi);
        (studentTCdf(mid, double(df)) < 0.975 ? lo : hi) = mid;
    }
    return 0.5 * (lo + hi);
}

Summary summarize(const std::vector<double>& values) {
    Summary s;
    s.n = static_cast<int64_t>(values.size());
    if (s.n == 0) return s;
    double sum = 0;
    for (double v : values)
        sum += v;
    s.mean = sum / double(s.n);
    s.lo = s.hi = s.mean;
    if (s.n < 2) return s;
    double ss = 0;
    for (double v : values)
        ss += (v - s.mean) * (v - s.mean);
    s.sd = std::sqrt(ss / double(s.n - 1));
    const double half = studentT975(s.n - 1) * s.sd / std::sqrt(double(s.n));
    s.lo = s.mean - half;
    s.hi = s.mean + half;
    return s;
}

int64_t seedsNeeded(double mean, double sd) {
    if (mean == 0) return -1;
    for (int64_t n = 2; n <= 100000; ++n)
        if (studentT975(n - 1) * sd / std::sqrt(double(n)) < std::fabs(mean)) return n;
    return 100000;
}

const char* toString(VerdictKind k) {
    switch (k) {
        case VerdictKind::Agrees:
            return "agrees";
        case VerdictKind::Disagrees:
            return "disagrees";
        case VerdictKind::Inconclusive:
            break;
    }
    return "inconclusive";
}

namespace {

// The verdict read off the interval of `s` (a difference: from the other arm, or from a gate's bar): `above`
// when it lies above 0 (at or above with `inclusive`: a gate every seed reaches exactly is met), `below` when
// below, inconclusive otherwise with the seeds it would take.
Verdict verdictOf(const Summary& s, const std::string& what, bool inclusive, const char* above, const char* below) {
    Verdict v;
    v.difference = s;
    const std::string n = "n = " + std::to_string(s.n);
    if (!s.hasInterval()) {
        v.text = n + " seed" + (s.n == 1 ? "" : "s") + ": at least 2 are needed for an interval";
        v.seeds_needed = 2;
        return v;
    }
    const std::string interval =
        what + " " + fixed(s.mean) + ", 95 % CI [" + fixed(s.lo) + ", " + fixed(s.hi) + "] (" + n + ", t)";
    if (s.lo > 0 || (inclusive && s.lo >= 0)) {
        v.kind = VerdictKind::Agrees;
        v.text = interval + ": " + above;
    } else if (s.hi < 0) {
        v.kind = VerdictKind::Disagrees;
        v.text = interval + ": " + below;
    } else {
        v.seeds_needed = seedsNeeded(s.mean, s.sd);
        v.text = interval + ": inconclusive; " +
                 (v.seeds_needed < 0 ? std::string("the observed difference is 0")
                                     : "about " + std::to_string(v.seeds_needed) +
                                           " seeds would exclude 0 at the observed mean and sd");
    }
    return v;
}

}  // namespace

Verdict pairedVerdict(const std::vector<std::pair<double, double>>& betterWorse) {
    std::vector<double> d;
    for (const auto& [better, worse] : betterWorse)
        d.push_back(better - worse);
    return verdictOf(summarize(d), "difference", false, "agrees", "disagrees");
}

Verdict gateVerdict(const std::vector<double>& values, double atLeast) {
    std::vector<double> d;
    for (double v : values)
        d.push_back(v - atLeast);
    char bar[32];
    std::snprintf(bar, sizeof bar, "%.3f", atLeast);
    return verdictOf(summarize(d), std::string("mean − ") + bar, true, "met", "not met");
}

}  // namespace peft
