// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// A study: one of the paper's experiments as a file — a claim (in words, with the table or figure it comes
// from), arms (presets or specs, each at one or more budgets), tasks, seeds, training settings, and the
// comparisons that test the claim ("parallel adapter at the FFN > sequential adapter at the FFN, at every
// budget"). Running it queues one run per arm × budget × task × seed in a project (each remembered, so a
// second run queues only what is missing); its report reads the finished runs back into per-cell summaries
// and paired verdicts (study/stats.h). JSON as strict as specs: an unknown field, a wrong type, an unknown
// preset, a spec that does not validate, a budget no size reaches, zero seeds or a comparison naming no arm
// is refused with the field path before anything is queued. No torch.
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "peft/spec.h"
#include "project/project.h"
#include "project/run_record.h"
#include "study/stats.h"
#include "train/train_config.h"

namespace peft {

struct StudyArm {
    std::string id;               // how comparisons name it: "pa-ffn"
    std::string label;            // for tables and legends: "parallel adapter (FFN)"
    std::string preset;           // a preset id, or empty with `spec`
    std::optional<Spec> spec;     // a spec of its own (sized by the budgets like a preset)
    std::vector<double> budgets;  // % of the backbone trained; empty: the preset's default (or fixed) size
    bool random_init = false;  // the backbone's shape with random weights: the control of a pretraining gate
};

struct StudyComparison {
    std::string better, worse;    // arm ids: the paper finds `better` ahead of `worse`
    std::vector<double> budgets;  // only at these budgets (empty: every budget both arms have)
    std::string claim;            // the comparison in words
};

/// A quality gate: the arm's mean over seeds must reach a bar ("full fine-tuning ≥ 0.90 dev accuracy"),
/// judged on the 95 % interval like a comparison.
struct StudyGate {
    std::string arm;
    double at_least = 0;          // in the metric's units
    std::vector<double> budgets;  // only at these budgets (empty: every budget of the arm)
    std::string claim;
};

struct Study {
    std::string id, title, claim, source;  // source: where in the paper ("Table 3, Section 4.3")
    std::vector<std::string> tasks;        // built-in task names (or "dataset:ID" of a project)
    int64_t train_size = 0;                // training examples of a built-in task (0: the task's default)
    int64_t seeds = 3;
    nlohmann::json train = nlohmann::json::object();  // training settings over each preset's defaults
    std::vector<StudyArm> arms;
    std::vector<StudyComparison> comparisons;
    std::vector<StudyGate> gates;
    std::string reference;  // an arm drawn as a band (full fine-tuning), or empty
};

/// Reads a study; every problem names `source` and the field path ("arms[2].budgets[0]").
Study studyFromJson(const nlohmann::json& j, const std::string& source);
nlohmann::json studyToJson(const Study& s);
/// The built-in studies (resources/studies/*.json), by id.
std::vector<Study> builtinStudies();
/// A built-in study's id, or a study file's path.
Study loadStudy(const std::string& idOrFile);

/// What a study runs on, when not its own defaults.
struct StudyOptions {
    std::optional<int64_t> seeds;    // instead of the study's
    std::vector<std::string> tasks;  // instead of the study's ("sentiment", "dataset:3")
    std::optional<int64_t> steps;    // instead of the study's training steps
};

/// One run of a study: an arm at a budget on a task with a seed.
struct StudyCell {
    std::string arm;
    double budget = 0;  // 0: the arm's default size
    std::string task;
    uint64_t seed = 0;
    /// "pa-ffn@0.5/summarization/seed 2": how the project remembers the cell's run.
    std::string key() const;
};

/// Every cell: arms × budgets × tasks × seeds (seeds 1 … n: the same seeds for every arm, so runs pair).
std::vector<StudyCell> studyCells(const Study& s, const StudyOptions& o = {});
/// The recipe of each cell on the project's backbone (every spec sized and validated: a budget no size
/// reaches is an error naming the arm and budget).
std::vector<RunRecipe> studyRecipes(const Project& p, const Study& s, const std::vector<StudyCell>& cells,
                                    const StudyOptions& o = {});

struct QueuedStudy {
    std::vector<int64_t> runs;  // every cell's run, in cell order
    int64_t added = 0;          // of which queued now (the others were there: finished or still queued)
};
/// Queues the cells that have no run in the project yet (a run deleted since is queued again), remembering
/// each in the project (meta "study/ID/KEY" = run id). Everything is checked before the first run is added.
QueuedStudy queueStudy(Project& p, const Study& s, const StudyOptions& o = {});

/// One cell's outcome.
struct StudyRunResult {
    StudyCell cell;
    int64_t run = 0;  // 0: never queued
    RunState state = RunState::Queued;
    std::optional<double> metric;  // the best dev metric of a finished run
    std::string metric_name;
    double trained_pct = 0;
};
std::vector<StudyRunResult> studyResults(const Project& p, const Study& s, const StudyOptions& o = {});
/// The tasks the project holds runs of the study on: the study's own first, then others (a dataset the
/// study ran on instead, "dataset:3"); the study's tasks when it holds none.
std::vector<std::string> studyTasksInProject(const Project& p, const Study& s);

/// Per arm × budget × task: the summary over the seeds that finished, and the cells that did not.
struct StudyCellSummary {
    std::string arm, task, metric_name;
    double budget = 0, trained_pct = 0;
    Summary summary;
    std::vector<std::string> missing;  // "seed 3: failed", "seed 2: queued"
};
struct StudyVerdict {
    StudyComparison comparison;  // a gate: comparison.better is its arm, comparison.claim its claim
    std::optional<double> gate;  // set for a gate: its bar
    std::string task;
    double budget_better = 0, budget_worse = 0;
    Verdict verdict;
};
/// How close the arms come to the metric's ceiling (1 for accuracy, ROUGE and exact match; 100 for BLEU):
/// a comparison between two arms at the ceiling says nothing.
struct CeilingNote {
    std::string metric;
    double ceiling = 0;
    std::string best_arm;  // the best non-reference arm (mean over seeds) and its distance to the ceiling
    double best_mean = 0, distance = 0;
    std::vector<std::string> at_ceiling;  // arms whose mean is within 0.5 % of the ceiling
};

struct StudyReport {
    std::vector<StudyCellSummary> cells;
    std::vector<CeilingNote> ceilings;  // one per metric (task) with a known ceiling
    std::vector<StudyVerdict> verdicts;
    std::vector<StudyRunResult> runs;
};
StudyReport studyReport(const Study& s, const std::vector<StudyRunResult>& runs);
/// "agrees" / "disagrees" / "inconclusive" for a comparison, "met" / "not met" / "inconclusive" for a gate.
const char* verdictWord(const StudyVerdict& v);
/// "parallel adapter 0.5 % > sequential adapter 0.5 %", "full fine-tuning ≥ 0.9".
std::string verdictSubject(const Study& s, const StudyVerdict& v);
/// The metric's ceiling, or 0 when it has none known (a loss).
double metricCeiling(const std::string& metric);

/// Where to draw points on one axis so that none hides another: points closer than `gap` to a neighbour
/// (chained) form a group, laid out `gap` apart around the group's mean in their order; a point with room
/// stays where it is. Same units in and out (pixels, or log10 of trained %). Used by the report's SVG and the
/// GUI.
std::vector<double> spreadApart(const std::vector<double>& xs, double gap);

/// The report as Markdown (claim, settings, table of means with intervals and n, verdicts, what is missing),
/// CSV (one row per run, raw values), a LaTeX tabular and an SVG plot (metric against trained %, means with
/// 95 % whiskers per arm); JSON for --json.
std::string reportMarkdown(const Study& s, const StudyReport& r, const std::string& plotFile);
std::string reportCsv(const StudyReport& r);
std::string reportLatex(const Study& s, const StudyReport& r);
std::string reportSvg(const Study& s, const StudyReport& r);
nlohmann::json reportJson(const Study& s, const StudyReport& r);

}  // namespace peft
