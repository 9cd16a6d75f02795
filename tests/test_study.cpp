// SPDX-License-Identifier: GPL-3.0-or-later
// Studies: the statistics against values worked out by hand and Student-t tables, every kind of verdict, the
// study file's refusals (with their field paths), the built-in studies sized on the shipped backbone, and a
// tiny study end to end — queued, trained, resumed without re-running anything, extended by a seed, reported.
#include <QtTest>

#include <cmath>
#include <filesystem>

#include "project/project.h"
#include "project/run_record.h"
#include "run/executor.h"
#include "study/stats.h"
#include "study/study.h"
#include "test_support.h"
#include "util/error.h"
#include "util/json_read.h"

using namespace peft;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string refusal(const json& j) {
    try {
        studyFromJson(j, "s.json");
    } catch (const Error& e) {
        return e.what();
    }
    return "accepted";
}

json tinyStudy() {
    return json::parse(R"({
      "id": "tiny", "title": "two arms", "claim": "LoRA beats BitFit", "source": "a test",
      "tasks": ["sentiment"], "train_size": 64, "seeds": 2,
      "train": {"steps": 6, "batch_size": 8, "eval_every": 3, "threads": 1},
      "arms": [{"id": "lora", "preset": "lora"}, {"id": "bitfit", "preset": "bitfit"}],
      "comparisons": [{"better": "lora", "worse": "bitfit"}],
      "gates": [{"arm": "lora", "at_least": 0.25, "claim": "LoRA beats a coin with four sides"}]
    })");
}

}  // namespace

class TestStudy : public QObject {
    Q_OBJECT

private Q_SLOTS:
    // t(0.975, df) against the printed tables (Student 1908 / any statistics text), to 4 decimals.
    void studentTMatchesTheTables() {
        const std::pair<int64_t, double> table[] = {{1, 12.7062}, {2, 4.3027},  {4, 2.7764},  {9, 2.2622},
                                                    {21, 2.0796}, {22, 2.0739}, {29, 2.0452}, {1000, 1.9623}};
        for (const auto& [df, t] : table)
            QVERIFY2(std::fabs(studentT975(df) - t) < 5e-5, std::to_string(df).c_str());
        QCOMPARE(studentTCdf(0, 5), 0.5);
    }

    // {0.80, 0.82, 0.84}: mean 0.82, sd 0.02, half-width 4.30265 · 0.02 / √3 = 0.049683.
    void summaryOfThreeSeeds() {
        const Summary s = summarize({0.80, 0.82, 0.84});
        QCOMPARE(s.n, int64_t(3));
        QVERIFY(std::fabs(s.mean - 0.82) < 1e-12);
        QVERIFY(std::fabs(s.sd - 0.02) < 1e-12);
        QVERIFY(std::fabs(s.lo - 0.770317) < 1e-6 && std::fabs(s.hi - 0.869683) < 1e-6);
        const Summary one = summarize({0.5});
        QVERIFY(!one.hasInterval() && one.mean == 0.5 && one.sd == 0);
        QCOMPARE(summarize({}).n, int64_t(0));
    }

    // Differences {0.05, 0.06, 0.03}: mean 0.046667, sd 0.0152753, CI [0.008721, 0.084613] — above 0: agrees;
    // the same pairs swapped disagree; {0.01, −0.01, 0.02} (mean 0.006667, same sd) is inconclusive, and
    // t(0.975, n−1)·sd/√n first drops below the mean at n = 23 (t(21) = 2.0796 gives 0.006773 at n = 22;
    // t(22) = 2.0739 gives 0.006606 at n = 23).
    void verdictsOfPairedSeeds() {
        const Verdict a = pairedVerdict({{0.90, 0.85}, {0.92, 0.86}, {0.91, 0.88}});
        QCOMPARE(a.kind, VerdictKind::Agrees);
        QVERIFY(std::fabs(a.difference.mean - 0.0466667) < 1e-6);
        QVERIFY(std::fabs(a.difference.sd - 0.0152753) < 1e-6);
        QVERIFY(std::fabs(a.difference.lo - 0.008721) < 1e-5 && std::fabs(a.difference.hi - 0.084613) < 1e-5);
        QVERIFY(a.text.find("n = 3") != std::string::npos);
        QCOMPARE(pairedVerdict({{0.85, 0.90}, {0.86, 0.92}, {0.88, 0.91}}).kind, VerdictKind::Disagrees);
        const Verdict i = pairedVerdict({{0.51, 0.50}, {0.49, 0.50}, {0.52, 0.50}});
        QCOMPARE(i.kind, VerdictKind::Inconclusive);
        QCOMPARE(i.seeds_needed, int64_t(23));
        QVERIFY(i.text.find("23 seeds") != std::string::npos);
        const Verdict one = pairedVerdict({{0.9, 0.1}});
        QCOMPARE(one.kind, VerdictKind::Inconclusive);  // one pair: no interval, however large the gap
        QCOMPARE(one.seeds_needed, int64_t(2));
        QCOMPARE(seedsNeeded(0, 0.1), int64_t(-1));
    }

    // A gate "mean ≥ 0.90" on the interval of value − 0.90. {0.95, 0.96, 0.94}: differences mean 0.05, sd
    // 0.01, half-width t(0.975, 2)·0.01/√3 = 4.302653·0.005774 = 0.024841, so [0.025159, 0.074841]: met.
    // {0.91, 0.93, 0.92}: mean 0.02, [−0.004841, 0.044841]: inconclusive, and at n = 4 t(3)·0.01/2 =
    // 3.182446·0.005 = 0.015912 < 0.02: 4 seeds. {0.85, 0.86, 0.84}: [−0.074841, −0.025159]: not met. Every
    // seed exactly on the bar (sd 0): met — the interval reaches it.
    void gatesOnTheInterval() {
        const Verdict met = gateVerdict({0.95, 0.96, 0.94}, 0.90);
        QCOMPARE(met.kind, VerdictKind::Agrees);
        QVERIFY(std::fabs(met.difference.lo - 0.025159) < 1e-5 &&
                std::fabs(met.difference.hi - 0.074841) < 1e-5);
        QVERIFY2(met.text.find("met") != std::string::npos && met.text.find("0.900") != std::string::npos,
                 met.text.c_str());
        const Verdict maybe = gateVerdict({0.91, 0.93, 0.92}, 0.90);
        QCOMPARE(maybe.kind, VerdictKind::Inconclusive);
        QCOMPARE(maybe.seeds_needed, int64_t(4));
        QVERIFY(std::fabs(maybe.difference.lo + 0.004841) < 1e-5);
        QCOMPARE(gateVerdict({0.85, 0.86, 0.84}, 0.90).kind, VerdictKind::Disagrees);
        QCOMPARE(gateVerdict({1.0, 1.0, 1.0}, 1.0).kind, VerdictKind::Agrees);
        QCOMPARE(gateVerdict({0.99}, 0.5).kind, VerdictKind::Inconclusive);  // one seed: no interval
    }

    // Plot placement: a point with room stays put; points closer than the gap are laid out the gap apart
    // around their mean, in their order. {0, 0, 0} at gap 1 → {−1, 0, 1}; {5, 5.5} → {4.75, 5.75}
    // (mean 5.25); 10 and 20 are alone. A chain {0, 0.6, 1.2} (each within 1 of the next) is one group:
    // {−0.4, 0.6, 1.6}.
    void spreadApartKeepsIsolatedPointsAndSpacesGroups() {
        const std::vector<double> got = spreadApart({0, 10, 0, 5.5, 0, 20, 5}, 1.0);
        const std::vector<double> want = {-1, 10, 0, 5.75, 1, 20, 4.75};
        QCOMPARE(got.size(), want.size());
        for (size_t i = 0; i < want.size(); ++i)
            QVERIFY2(std::fabs(got[i] - want[i]) < 1e-12, qPrintable(QString::number(i)));
        const std::vector<double> chain = spreadApart({1.2, 0, 0.6}, 1.0);
        QVERIFY(std::fabs(chain[0] - 1.6) < 1e-12 && std::fabs(chain[1] + 0.4) < 1e-12 &&
                std::fabs(chain[2] - 0.6) < 1e-12);
        QVERIFY(spreadApart({}, 1.0).empty());
    }

    // Bad study files are refused before anything is queued, naming the field.
    void badStudiesAreRefusedWithTheFieldPath_data() {
        QTest::addColumn<QString>("patch");
        QTest::addColumn<QString>("expected");
        QTest::newRow("unknown field") << R"({"colour": "red"})"
                                       << "s.json: colour: unknown field";
        QTest::newRow("unknown preset") << R"({"arms": [{"id": "x", "preset": "nope"}]})"
                                        << "s.json: arms[0].preset:";
        QTest::newRow("bad spec")
            << R"({"arms": [{"id": "x", "spec": {"modifications": [{"form": "adaptor"}]}}]})"
            << "s.json: arms[0].spec.modifications[0]";
        QTest::newRow("zero seeds") << R"({"seeds": 0})"
                                    << "s.json: seeds: must be 1";
        QTest::newRow("comparison of no arm") << R"({"comparisons": [{"better": "lora", "worse": "ghost"}]})"
                                              << "s.json: comparisons[0].worse: 'ghost' names no arm";
        QTest::newRow("fixed size with a budget")
            << R"({"arms": [{"id": "f", "preset": "full", "budgets": [1]}]})"
            << "s.json: arms[0].budgets: 'full' has a fixed size";
        QTest::newRow("negative budget") << R"({"arms": [{"id": "l", "preset": "lora", "budgets": [-1]}]})"
                                         << "s.json: arms[0].budgets[0]";
        QTest::newRow("unknown task") << R"({"tasks": ["poetry"]})"
                                      << "s.json: tasks[0]:";
        QTest::newRow("seed in settings") << R"({"train": {"seed": 4}})"
                                          << "s.json: train.seed";
        QTest::newRow("unknown setting") << R"({"train": {"speed": 4}})"
                                         << "s.json: train.speed: unknown field";
        QTest::newRow("arm twice")
            << R"({"arms": [{"id": "a", "preset": "lora"}, {"id": "a", "preset": "ia3"}]})"
            << "s.json: arms[1].id: 'a' is used twice";
        QTest::newRow("gate of no arm") << R"({"gates": [{"arm": "ghost", "at_least": 0.9}]})"
                                        << "s.json: gates[0].arm: 'ghost' names no arm";
        QTest::newRow("gate without a bar") << R"({"gates": [{"arm": "lora"}]})"
                                            << "s.json: gates[0].at_least: missing";
        QTest::newRow("gate at another budget")
            << R"({"gates": [{"arm": "lora", "at_least": 0.9, "budgets": [2]}]})"
            << "s.json: gates[0].budgets[0]: 2 % is not a budget of 'lora'";
        QTest::newRow("random init not a flag")
            << R"({"arms": [{"id": "r", "preset": "full", "random_init": 1}]})"
            << "s.json: arms[0].random_init";
    }
    void badStudiesAreRefusedWithTheFieldPath() {
        QFETCH(QString, patch);
        QFETCH(QString, expected);
        json j = tinyStudy();
        j.merge_patch(json::parse(patch.toStdString()));
        const std::string got = refusal(j);
        QVERIFY2(got.find(expected.toStdString()) != std::string::npos, got.c_str());
    }

    // A budget no size of the arm reaches on this backbone is refused when the study is sized on a project,
    // and nothing is queued.
    void unreachableBudgetQueuesNothing() {
        const fs::path file = fs::temp_directory_path() / "peft-test-study-budget.peftproj";
        fs::remove(file);
        auto p = Project::create(file.string(), backboneRefToJson(defaultBackboneRef()));
        json j = tinyStudy();
        j["arms"][0]["budgets"] = {0.0001};
        const Study s = studyFromJson(j, "s.json");
        QVERIFY_THROWS_EXCEPTION(Error, queueStudy(*p, s));
        QCOMPARE(p->runs().size(), size_t(0));
    }

    // Every built-in study reads, and every one of its runs is sized and checked on the shipped backbone.
    void builtInStudiesSizeOnTheShippedBackbone() {
        const std::vector<Study> all = builtinStudies();
        QCOMPARE(all.size(), size_t(7));
        const fs::path file = fs::temp_directory_path() / "peft-test-study-builtin.peftproj";
        fs::remove(file);
        auto p = Project::create(file.string(), backboneRefToJson(defaultBackboneRef()));
        for (const Study& s : all) {
            const auto cells = studyCells(s);
            QVERIFY2(cells.size() >= 6, s.id.c_str());
            const auto recipes = studyRecipes(*p, s, cells);
            QCOMPARE(recipes.size(), cells.size());
            for (size_t i = 0; i < cells.size(); ++i)  // a random-init arm's runs start from random weights
                for (const auto& a : s.arms)
                    if (a.id == cells[i].arm) QCOMPARE(recipes[i].backbone.random_init, a.random_init);
            QVERIFY(!s.claim.empty() && !s.source.empty());
            QCOMPARE(loadStudy(s.id).id, s.id);
        }
    }

    // A tiny study end to end: 2 arms × 2 seeds queued and trained; queued again it adds nothing; with a
    // third seed it adds only the new runs; the report holds every run, and a changed setting is refused.
    void tinyStudyRunsResumesAndReports() {
        const fs::path file = fs::temp_directory_path() / "peft-test-study-tiny.peftproj";
        fs::remove(file);
        Project::create(file.string(), backboneRefToJson(defaultBackboneRef()));
        const Study s = studyFromJson(tinyStudy(), "tiny.json");
        std::vector<int64_t> runs;
        {
            auto p = Project::open(file.string());
            const QueuedStudy q = queueStudy(*p, s);
            QCOMPARE(q.added, int64_t(4));
            runs = q.runs;
            const RunRecipe r = runRecipe(*p, p->run(runs[1]));  // lora, seed 2
            QCOMPARE(r.train.seed, uint64_t(2));
            QCOMPARE(r.train.steps, int64_t(6));
            QCOMPARE(r.data.train_size, int64_t(64));
        }
        for (int64_t id : runs)
            QCOMPARE(executeRun(file.string(), id, {}).status, RunStatus::Finished);
        {
            auto p = Project::open(file.string());
            QCOMPARE(queueStudy(*p, s).added, int64_t(0));  // resumed: nothing runs twice
            StudyOptions three;
            three.seeds = 3;
            const QueuedStudy more = queueStudy(*p, s, three);
            QCOMPARE(more.added, int64_t(2));
            QCOMPARE(more.runs[0], runs[0]);
            StudyOptions longer;
            longer.steps = 12;
            QVERIFY_THROWS_EXCEPTION(Error, queueStudy(*p, s, longer));
        }
        auto p = Project::open(file.string(), Project::Mode::ReadOnly);
        StudyOptions three;
        three.seeds = 3;
        const StudyReport r = studyReport(s, studyResults(*p, s, three));
        QCOMPARE(r.cells.size(), size_t(2));
        QCOMPARE(r.cells[0].summary.n,
                 int64_t(2));  // the third seed is queued, not finished: said, not dropped
        QCOMPARE(r.cells[0].missing.size(), size_t(1));
        QVERIFY(r.cells[0].missing[0].find("seed 3: queued") != std::string::npos);
        QCOMPARE(r.verdicts.size(), size_t(2));  // the comparison, then the gate
        QCOMPARE(r.verdicts[0].verdict.difference.n, int64_t(2));
        QVERIFY(!r.verdicts[0].gate && r.verdicts[1].gate == 0.25);
        QCOMPARE(r.verdicts[1].verdict.difference.n, int64_t(2));  // over the two finished seeds of LoRA
        QVERIFY(std::fabs(r.verdicts[1].verdict.difference.mean - (r.cells[0].summary.mean - 0.25)) < 1e-12);
        QCOMPARE(verdictSubject(s, r.verdicts[1]), std::string("lora ≥ 0.25"));
        const std::string word = verdictWord(r.verdicts[1]);
        QVERIFY2(word == "met" || word == "not met" || word == "inconclusive", word.c_str());
        const std::string csv = reportCsv(r);
        QCOMPARE(std::count(csv.begin(), csv.end(), '\n'), std::ptrdiff_t(7));  // header + 6 runs
        const std::string md = reportMarkdown(s, r, "plot.svg");
        QVERIFY(md.find("| n |") != std::string::npos && md.find("seed 3: queued") != std::string::npos);
        QVERIFY(reportSvg(s, r).find("<svg") == 0);
        QVERIFY(reportLatex(s, r).find("\\begin{tabular}") != std::string::npos);
        // Headroom: the best arm's distance to accuracy's ceiling of 1.
        QCOMPARE(r.ceilings.size(), size_t(1));
        const double best = std::max(r.cells[0].summary.mean, r.cells[1].summary.mean);
        QVERIFY(std::fabs(r.ceilings[0].distance - (1.0 - best)) < 1e-12);
        QVERIFY(md.find("**Headroom** (accuracy, ceiling 1)") != std::string::npos);
        // The metric of each finished run is the project's own best dev metric.
        for (const StudyRunResult& x : r.runs)
            if (x.metric) QCOMPARE(*x.metric, p->run(x.run).summary->best_dev_metric);
    }
};

QTEST_GUILESS_MAIN(TestStudy)
#include "test_study.moc"
