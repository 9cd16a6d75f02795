// SPDX-License-Identifier: GPL-3.0-or-later
#include "study/study.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "data/table.h"
#include "data/world.h"
#include "peft/accounting.h"
#include "peft/presets.h"
#include "util/error.h"
#include "util/json_read.h"
#include "util/system.h"

namespace peft {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string num(double v, const char* format = "%g") {
    char buf[64];
    std::snprintf(buf, sizeof buf, format, v);
    return buf;
}

std::string budgetText(double b) {
    return b > 0 ? num(b) + " %" : "default size";
}

bool isStudyId(const std::string& id) {
    return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    });
}

StudyArm armFromJson(const json& j, const std::string& where) {
    JsonReader in(j, where);
    StudyArm a;
    if (!in.get("id", a.id) || !isStudyId(a.id))
        throw Error(in.path("id"), "missing or not a short name (a-z, 0-9, - and _)");
    in.get("label", a.label);
    if (a.label.empty()) a.label = a.id;
    const bool hasPreset = in.get("preset", a.preset);
    if (in.has("spec")) {
        try {
            a.spec = specFromJson(in.raw("spec"));
        } catch (const Error& e) {
            throw Error(in.path("spec") + "." + e.where(), e.reason());
        }
    }
    if (hasPreset == a.spec.has_value()) throw Error(where, "give a preset or a spec (one of them)");
    std::optional<double> fixedSize;
    if (hasPreset) {
        try {
            fixedSize = presetById(a.preset).default_budget_pct;
        } catch (const Error& e) {
            throw Error(in.path("preset"), e.reason());
        }
    }
    in.get("budgets", a.budgets);
    for (size_t i = 0; i < a.budgets.size(); ++i)
        if (!(a.budgets[i] > 0 && a.budgets[i] <= 100))
            throw Error(in.path("budgets") + "[" + std::to_string(i) + "]",
                        "a budget is a % of the backbone in (0, 100]");
    if (fixedSize && *fixedSize == 0.0 && !a.budgets.empty())
        throw Error(in.path("budgets"), "'" + a.preset + "' has a fixed size; a budget does not apply");
    if (std::set<double>(a.budgets.begin(), a.budgets.end()).size() != a.budgets.size())
        throw Error(in.path("budgets"), "a budget is listed twice");
    in.get("random_init", a.random_init);
    in.finish();
    return a;
}

std::vector<double> armBudgets(const StudyArm& a) {
    return a.budgets.empty() ? std::vector<double>{0.0} : a.budgets;
}

const StudyArm& armById(const Study& s, const std::string& id) {
    for (const auto& a : s.arms)
        if (a.id == id) return a;
    throw Error("study " + s.id, "no arm '" + id + "'");
}

std::string studyMetaKey(const Study& s, const StudyCell& c) {
    return "study/" + s.id + "/" + c.key();
}

std::vector<std::string> tasksOf(const Study& s, const StudyOptions& o) {
    return o.tasks.empty() ? s.tasks : o.tasks;
}

}  // namespace

std::string StudyCell::key() const {
    return arm + "@" + (budget > 0 ? num(budget) : std::string("default")) + "/" + task + "/seed " +
           std::to_string(seed);
}

Study studyFromJson(const json& j, const std::string& source) {
    try {
        JsonReader in(j, "");
        Study s;
        if (!in.get("id", s.id) || !isStudyId(s.id))
            throw Error("id", "missing or not a short name (a-z, 0-9, - and _)");
        in.get("title", s.title);
        in.get("claim", s.claim);
        in.get("source", s.source);
        if (!in.get("tasks", s.tasks) || s.tasks.empty()) throw Error("tasks", "missing: at least one task");
        for (size_t i = 0; i < s.tasks.size(); ++i)
            if (s.tasks[i].rfind("dataset:", 0) != 0) try {
                    builtinTaskLabels(s.tasks[i]);
                } catch (const Error& e) {
                    throw Error("tasks[" + std::to_string(i) + "]", e.reason());
                }
        in.get("train_size", s.train_size);
        if (s.train_size < 0 || s.train_size > 10000000)
            throw Error("train_size", "must be 0 (the task's default) … 10,000,000");
        in.get("seeds", s.seeds);
        if (s.seeds < 1 || s.seeds > 1000) throw Error("seeds", "must be 1 … 1000");
        if (in.has("train")) {
            s.train = in.raw("train");
            TrainConfig check;
            applyTrainConfigJson(check, s.train, "train");
            if (s.train.contains("seed"))
                throw Error("train.seed", "the seeds are the study's (\"seeds\": N)");
        }
        if (!in.has("arms") || !in.raw("arms").is_array() || in.raw("arms").empty())
            throw Error("arms", "missing: an array of at least one arm");
        const json& arms = in.raw("arms");
        for (size_t i = 0; i < arms.size(); ++i) {
            s.arms.push_back(armFromJson(arms[i], "arms[" + std::to_string(i) + "]"));
            for (size_t k = 0; k + 1 < s.arms.size(); ++k)
                if (s.arms[k].id == s.arms.back().id)
                    throw Error("arms[" + std::to_string(i) + "].id",
                                "'" + s.arms.back().id + "' is used twice");
        }
        auto named = [&](const std::string& id) {
            return std::any_of(s.arms.begin(), s.arms.end(), [&](const StudyArm& a) { return a.id == id; });
        };
        if (in.has("comparisons")) {
            const json& cs = in.raw("comparisons");
            if (!cs.is_array()) throw Error("comparisons", "expected an array");
            for (size_t i = 0; i < cs.size(); ++i) {
                const std::string where = "comparisons[" + std::to_string(i) + "]";
                JsonReader c(cs[i], where);
                StudyComparison cmp;
                c.get("better", cmp.better);
                c.get("worse", cmp.worse);
                c.get("claim", cmp.claim);
                c.get("budgets", cmp.budgets);
                c.finish();
                for (const auto& [key, id] : {std::pair{"better", cmp.better}, std::pair{"worse", cmp.worse}})
                    if (!named(id)) throw Error(c.path(key), "'" + id + "' names no arm of the study");
                if (cmp.better == cmp.worse) throw Error(where, "compares an arm with itself");
                for (size_t b = 0; b < cmp.budgets.size(); ++b) {
                    const StudyArm &x = armById(s, cmp.better), &y = armById(s, cmp.worse);
                    auto has = [&](const StudyArm& a) {
                        return a.budgets.size() <= 1 || std::find(a.budgets.begin(), a.budgets.end(),
                                                                  cmp.budgets[b]) != a.budgets.end();
                    };
                    if (!has(x) || !has(y))
                        throw Error(c.path("budgets") + "[" + std::to_string(b) + "]",
                                    num(cmp.budgets[b]) + " % is not a budget of both arms");
                }
                s.comparisons.push_back(cmp);
            }
        }
        if (in.has("gates")) {
            const json& gs = in.raw("gates");
            if (!gs.is_array()) throw Error("gates", "expected an array");
            for (size_t i = 0; i < gs.size(); ++i) {
                JsonReader g(gs[i], "gates[" + std::to_string(i) + "]");
                StudyGate gate;
                g.get("arm", gate.arm);
                if (!g.get("at_least", gate.at_least)) throw Error(g.path("at_least"), "missing: the bar");
                g.get("budgets", gate.budgets);
                g.get("claim", gate.claim);
                g.finish();
                if (!named(gate.arm))
                    throw Error(g.path("arm"), "'" + gate.arm + "' names no arm of the study");
                const StudyArm& a = armById(s, gate.arm);
                for (size_t b = 0; b < gate.budgets.size(); ++b)
                    if (std::find(a.budgets.begin(), a.budgets.end(), gate.budgets[b]) == a.budgets.end())
                        throw Error(g.path("budgets") + "[" + std::to_string(b) + "]",
                                    num(gate.budgets[b]) + " % is not a budget of '" + a.id + "'");
                s.gates.push_back(gate);
            }
        }
        if (in.get("reference", s.reference) && !named(s.reference))
            throw Error("reference", "'" + s.reference + "' names no arm of the study");
        in.finish();
        return s;
    } catch (const Error& e) {
        throw Error(source + ": " + e.where(), e.reason());
    }
}

json studyToJson(const Study& s) {
    json arms = json::array();
    for (const auto& a : s.arms) {
        json j = {{"id", a.id}, {"label", a.label}};
        if (a.spec)
            j["spec"] = *a.spec;
        else
            j["preset"] = a.preset;
        if (!a.budgets.empty()) j["budgets"] = a.budgets;
        if (a.random_init) j["random_init"] = true;
        arms.push_back(j);
    }
    json cmps = json::array();
    for (const auto& c : s.comparisons) {
        json j = {{"better", c.better}, {"worse", c.worse}, {"claim", c.claim}};
        if (!c.budgets.empty()) j["budgets"] = c.budgets;
        cmps.push_back(j);
    }
    json j = {{"id", s.id},         {"title", s.title}, {"claim", s.claim},
              {"source", s.source}, {"tasks", s.tasks}, {"seeds", s.seeds},
              {"train", s.train},   {"arms", arms},     {"comparisons", cmps}};
    if (!s.gates.empty()) {
        json gates = json::array();
        for (const auto& g : s.gates) {
            json x = {{"arm", g.arm}, {"at_least", g.at_least}, {"claim", g.claim}};
            if (!g.budgets.empty()) x["budgets"] = g.budgets;
            gates.push_back(x);
        }
        j["gates"] = gates;
    }
    if (s.train_size > 0) j["train_size"] = s.train_size;
    if (!s.reference.empty()) j["reference"] = s.reference;
    return j;
}

std::vector<Study> builtinStudies() {
    std::vector<Study> out;
    const std::string dir = resourcesDir().empty() ? std::string() : resourcesDir() + "/studies";
    if (dir.empty() || !fs::is_directory(dir)) return out;
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().extension() == ".json") files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    for (const auto& f : files)
        out.push_back(studyFromJson(readJsonFile(f), f));
    return out;
}

Study loadStudy(const std::string& idOrFile) {
    if (fs::exists(idOrFile) || idOrFile.find('/') != std::string::npos ||
        (idOrFile.size() > 5 && idOrFile.substr(idOrFile.size() - 5) == ".json"))
        return studyFromJson(readJsonFile(idOrFile), idOrFile);
    std::string known;
    for (const Study& s : builtinStudies()) {
        if (s.id == idOrFile) return s;
        known += (known.empty() ? "" : ", ") + s.id;
    }
    throw Error("study", "no built-in study '" + idOrFile + "' (built in: " + known + "; or give a file)");
}

std::vector<StudyCell> studyCells(const Study& s, const StudyOptions& o) {
    const int64_t seeds = o.seeds.value_or(s.seeds);
    if (seeds < 1 || seeds > 1000) throw Error("--seeds", "must be 1 … 1000");
    // Counted before anything is built: a file with many arms, budgets and tasks must not exhaust memory.
    constexpr int64_t kMaxRuns = 100000;
    int64_t count = 0;
    for (const auto& a : s.arms)
        count += int64_t(armBudgets(a).size()) * int64_t(tasksOf(s, o).size()) * seeds;
    if (count > kMaxRuns)
        throw Error("study " + s.id, std::to_string(count) + " runs: more than " + std::to_string(kMaxRuns) +
                                         " (arms × budgets × tasks × seeds)");
    std::vector<StudyCell> cells;
    for (const auto& a : s.arms)
        for (double b : armBudgets(a))
            for (const auto& t : tasksOf(s, o))
                for (int64_t k = 1; k <= seeds; ++k)
                    cells.push_back({a.id, b, t, uint64_t(k)});
    return cells;
}

std::vector<RunRecipe> studyRecipes(const Project& p, const Study& s, const std::vector<StudyCell>& cells,
                                    const StudyOptions& o) {
    const BackboneRef backbone = backboneRefFromJson(p.backbone(), p.path() + ": backbone");
    const ModelConfig cfg = backboneRefConfig(backbone, p.path());
    std::map<std::string, DataRef> data;
    std::map<std::pair<std::string, double>, Spec> specs;
    std::vector<RunRecipe> out;
    for (const StudyCell& c : cells) {
        const StudyArm& a = armById(s, c.arm);
        const std::string where = "study " + s.id + ": arm '" + a.id + "' at " + budgetText(c.budget);
        auto spec = specs.find({a.id, c.budget});
        if (spec == specs.end()) {
            Spec sp;
            try {
                if (a.spec) {
                    sp = c.budget > 0 ? solveBudget(*a.spec, cfg, c.budget).spec : *a.spec;
                } else {
                    PresetOptions po;
                    if (c.budget > 0) po.budget = c.budget;
                    sp = resolvePreset(presetById(a.preset), cfg, po);
                }
                if (c.budget > 0) {  // reached, not approximated from afar: within a factor 1.5 of the target
                    const double got =
                        100.0 * double(countParams(sp, cfg).stored) / double(backboneParamCount(cfg));
                    if (!(got >= c.budget / 1.5 && got <= c.budget * 1.5))
                        throw Error("budgets", "no size reaches it on this backbone (the nearest stores " +
                                                   num(got, "%.3g") + " %)");
                }
                validate(sp, cfg);
            } catch (const Error& e) {
                throw Error(where, e.where() + ": " + e.reason());
            }
            spec = specs.emplace(std::make_pair(a.id, c.budget), sp).first;
        }
        auto d = data.find(c.task);
        if (d == data.end()) {
            DataRef ref = taskDataRef(p, c.task);
            if (!ref.files && s.train_size > 0) ref.train_size = s.train_size;
            d = data.emplace(c.task, ref).first;
        }
        RunRecipe r;
        r.spec = spec->second;
        const int64_t steps = o.steps.value_or(s.train.value("steps", int64_t(600)));
        r.train = presetTrainConfig(a.spec ? "custom" : a.preset, steps, c.seed);
        applyTrainConfigJson(r.train, s.train, "study " + s.id + ": train");
        r.train.steps = steps;
        if (!s.train.contains("eval_every")) r.train.eval_every = std::max<int64_t>(1, steps / 10);
        r.train.seed = c.seed;
        r.data = d->second;
        r.backbone = backbone;
        if (a.random_init) r.backbone.random_init = true;
        out.push_back(r);
    }
    return out;
}

QueuedStudy queueStudy(Project& p, const Study& s, const StudyOptions& o) {
    const std::vector<StudyCell> cells = studyCells(s, o);
    const std::vector<RunRecipe> recipes = studyRecipes(p, s, cells, o);  // all checked before any is added
    QueuedStudy q;
    std::vector<size_t> toAdd;
    for (size_t i = 0; i < cells.size(); ++i) {
        int64_t id = 0;
        if (const auto m = p.meta(studyMetaKey(s, cells[i]))) {
            try {
                id = std::stoll(*m);
                const RunRecord r = p.run(id);
                // The cell's run must be the same experiment: a changed study (steps, settings, data, spec)
                // would mix two in one mean. Compared: what the study sets (the pipeline fills in others,
                // e.g. the tokenizer's end-of-sequence id, when the run starts).
                const RunRecipe had = runRecipe(p, r);
                auto dataOf = [](const DataRef& d) {  // the data, not the row it was recorded in
                    json j = dataRefToJson(d);
                    j.erase("dataset_id");
                    return j;
                };
                bool same =
                    json(had.spec) == json(recipes[i].spec) && dataOf(had.data) == dataOf(recipes[i].data) &&
                    had.train.steps == recipes[i].train.steps && had.train.seed == recipes[i].train.seed &&
                    had.backbone.random_init == recipes[i].backbone.random_init;
                for (const auto& f : trainConfigFields())
                    if (s.train.contains(f.key))
                        same = same && trainConfigFieldValue(had.train, f) ==
                                           trainConfigFieldValue(recipes[i].train, f);
                if (!same)
                    throw Error(
                        "study " + s.id,
                        "run " + std::to_string(id) + " (" + cells[i].key() +
                            ") was queued with other settings than the study's now (steps, training "
                            "settings, data or spec): use another project, or delete the study's runs");
            } catch (const Error& e) {
                if (e.where() == "study " + s.id) throw;
                id = 0;  // the run was deleted: queue the cell again
            } catch (const std::exception&) {
                id = 0;
            }
        }
        q.runs.push_back(id);
        if (id == 0) toAdd.push_back(i);
    }
    for (size_t i : toAdd) {
        const StudyCell& c = cells[i];
        const StudyArm& a = armById(s, c.arm);
        // Short enough for the run lists: "par-ffn 0.5 % · summarization · seed 2 [insertion-form]".
        const std::string name = a.id + (c.budget > 0 ? " " + num(c.budget) + " %" : "") + " · " +
                                 dataName(recipes[i].data) + " · seed " + std::to_string(c.seed) + " [" +
                                 s.id + "]";
        const int64_t id =
            addRun(p, name, a.spec ? "custom" : a.preset, recipes[i], "study " + s.id + ": " + c.key());
        p.setMeta(studyMetaKey(s, c), std::to_string(id));
        q.runs[i] = id;
        ++q.added;
    }
    return q;
}

std::vector<StudyRunResult> studyResults(const Project& p, const Study& s, const StudyOptions& o) {
    std::vector<StudyRunResult> out;
    for (const StudyCell& c : studyCells(s, o)) {
        StudyRunResult r;
        r.cell = c;
        if (const auto m = p.meta(studyMetaKey(s, c))) {
            try {
                const RunRecord run = p.run(std::stoll(*m));
                r.run = run.id;
                r.state = run.state;
                if (run.summary) {
                    r.metric_name = run.summary->metric_name;
                    if (run.summary->backbone_params > 0)
                        r.trained_pct = 100.0 * double(run.summary->trained_params) /
                                        double(run.summary->backbone_params);
                    if (run.state == RunState::Finished) r.metric = run.summary->best_dev_metric;
                }
            } catch (const std::exception&) {
                r.run = 0;  // deleted since
            }
        }
        out.push_back(r);
    }
    return out;
}

std::vector<std::string> studyTasksInProject(const Project& p, const Study& s) {
    std::vector<std::string> found;
    const std::string prefix = "study/" + s.id + "/";
    for (const std::string& key : p.metaKeys(prefix)) {
        const std::string cell = key.substr(prefix.size());  // ARM@BUDGET/TASK/seed N
        const size_t a = cell.find('/'), b = cell.rfind('/');
        if (a == std::string::npos || b <= a) continue;
        const std::string task = cell.substr(a + 1, b - a - 1);
        if (std::find(found.begin(), found.end(), task) == found.end()) found.push_back(task);
    }
    if (found.empty()) return s.tasks;
    std::vector<std::string> tasks;
    for (const auto& t : s.tasks)
        if (std::find(found.begin(), found.end(), t) != found.end()) tasks.push_back(t);
    for (const auto& t : found)
        if (std::find(tasks.begin(), tasks.end(), t) == tasks.end()) tasks.push_back(t);
    return tasks;
}

double metricCeiling(const std::string& metric) {
    if (metric == "bleu" || metric == "BLEU") return 100.0;
    for (const char* m : {"accuracy", "macro_f1", "rougeL", "rouge1", "rouge2"})
        if (metric == m) return 1.0;
    return 0.0;
}

StudyReport studyReport(const Study& s, const std::vector<StudyRunResult>& runs) {
    StudyReport rep;
    rep.runs = runs;
    // Per arm × budget × task, in the study's order.
    std::vector<std::tuple<std::string, double, std::string>> order;
    std::map<std::tuple<std::string, double, std::string>, std::vector<const StudyRunResult*>> groups;
    for (const auto& r : runs) {
        const auto k = std::make_tuple(r.cell.arm, r.cell.budget, r.cell.task);
        if (!groups.count(k)) order.push_back(k);
        groups[k].push_back(&r);
    }
    for (const auto& k : order) {
        StudyCellSummary c;
        std::tie(c.arm, c.budget, c.task) = k;
        std::vector<double> values;
        for (const StudyRunResult* r : groups[k]) {
            if (r->metric) {
                values.push_back(*r->metric);
                c.metric_name = r->metric_name;
            } else {
                c.missing.push_back(
                    "seed " + std::to_string(r->cell.seed) + ": " +
                    (r->run == 0 ? std::string("not queued") : std::string(toString(r->state))));
            }
            if (r->trained_pct > 0) c.trained_pct = r->trained_pct;
        }
        c.summary = summarize(values);
        rep.cells.push_back(c);
    }
    // Per metric with a ceiling: the best non-reference arm's distance to it, and the arms at it.
    std::map<std::string, CeilingNote> notes;
    for (const auto& c : rep.cells) {
        const double ceiling = metricCeiling(c.metric_name);
        if (c.summary.n == 0 || ceiling <= 0) continue;
        CeilingNote& n = notes[c.metric_name];
        n.metric = c.metric_name;
        n.ceiling = ceiling;
        const std::string name = c.arm + (c.budget > 0 ? " " + num(c.budget) + " %" : "") +
                                 (c.task.empty() ? "" : " on " + c.task);
        if (c.summary.mean >= ceiling * 0.995) n.at_ceiling.push_back(name);
        if (c.arm != s.reference && (n.best_arm.empty() || c.summary.mean > n.best_mean)) {
            n.best_arm = name;
            n.best_mean = c.summary.mean;
            n.distance = ceiling - c.summary.mean;
        }
    }
    for (auto& [metric, n] : notes)
        rep.ceilings.push_back(n);
    // Each comparison per task and budget, paired by seed.
    for (const auto& cmp : s.comparisons) {
        const StudyArm &x = armById(s, cmp.better), &y = armById(s, cmp.worse);
        std::vector<std::pair<double, double>> budgetPairs;
        for (double bx : armBudgets(x))
            for (double by : armBudgets(y)) {
                const bool matched = bx == by || armBudgets(x).size() == 1 || armBudgets(y).size() == 1;
                const double at = armBudgets(x).size() == 1 ? by : bx;
                if (matched && (cmp.budgets.empty() ||
                                std::find(cmp.budgets.begin(), cmp.budgets.end(), at) != cmp.budgets.end()))
                    budgetPairs.push_back({bx, by});
            }
        std::vector<std::string> tasks;
        for (const auto& r : runs)
            if (std::find(tasks.begin(), tasks.end(), r.cell.task) == tasks.end())
                tasks.push_back(r.cell.task);
        for (const auto& t : tasks)
            for (const auto& [bx, by] : budgetPairs) {
                std::map<uint64_t, double> better, worse;
                for (const auto& r : runs)
                    if (r.cell.task == t && r.metric) {
                        if (r.cell.arm == x.id && r.cell.budget == bx) better[r.cell.seed] = *r.metric;
                        if (r.cell.arm == y.id && r.cell.budget == by) worse[r.cell.seed] = *r.metric;
                    }
                std::vector<std::pair<double, double>> pairs;
                for (const auto& [seed, v] : better)
                    if (worse.count(seed)) pairs.push_back({v, worse[seed]});
                rep.verdicts.push_back({cmp, std::nullopt, t, bx, by, pairedVerdict(pairs)});
            }
    }
    // Each gate per task and budget, over the seeds that finished.
    for (const auto& g : s.gates)
        for (const auto& c : rep.cells) {
            if (c.arm != g.arm || (!g.budgets.empty() && std::find(g.budgets.begin(), g.budgets.end(),
                                                                   c.budget) == g.budgets.end()))
                continue;
            std::vector<double> values;
            for (const auto& r : runs)
                if (r.cell.arm == c.arm && r.cell.budget == c.budget && r.cell.task == c.task && r.metric)
                    values.push_back(*r.metric);
            StudyComparison as;
            as.better = g.arm;
            as.claim = g.claim;
            rep.verdicts.push_back({as, g.at_least, c.task, c.budget, 0, gateVerdict(values, g.at_least)});
        }
    return rep;
}

const char* verdictWord(const StudyVerdict& v) {
    if (v.gate && v.verdict.kind != VerdictKind::Inconclusive)
        return v.verdict.kind == VerdictKind::Agrees ? "met" : "not met";
    return toString(v.verdict.kind);
}

namespace {

std::string latexEscape(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (std::string("&%$#_{}").find(c) != std::string::npos) out += '\\';
        out += c;
    }
    return out;
}

std::string meanText(const Summary& m) {
    if (m.n == 0) return "—";
    return num(m.mean, "%.3f") + (m.hasInterval() ? " [" + num(m.lo, "%.3f") + ", " + num(m.hi, "%.3f") + "]"
                                                  : std::string(" (no interval: n = 1)"));
}

std::string armLabel(const Study& s, const std::string& id) {
    for (const auto& a : s.arms)
        if (a.id == id) return a.label;
    return id;
}

}  // namespace

std::string verdictSubject(const Study& s, const StudyVerdict& v) {
    const std::string better =
        armLabel(s, v.comparison.better) + (v.budget_better > 0 ? " " + num(v.budget_better) + " %" : "");
    if (v.gate) return better + " ≥ " + num(*v.gate);
    return better + " > " + armLabel(s, v.comparison.worse) +
           (v.budget_worse > 0 ? " " + num(v.budget_worse) + " %" : "");
}

std::string reportMarkdown(const Study& s, const StudyReport& r, const std::string& plotFile) {
    std::ostringstream md;
    md << "# " << (s.title.empty() ? s.id : s.title) << "\n\n";
    if (!s.claim.empty()) md << "**Claim** (" << s.source << "): " << s.claim << "\n\n";
    md << "Study `" << s.id << "`: " << s.arms.size() << " arms, tasks ";
    std::set<std::string> tasks;
    for (const auto& c : r.cells)
        tasks.insert(c.task);
    for (auto it = tasks.begin(); it != tasks.end(); ++it)
        md << (it == tasks.begin() ? "" : ", ") << *it;
    md << "; training settings over each preset's defaults: `" << s.train.dump() << "`"
       << (s.train_size > 0 ? "; " + std::to_string(s.train_size) + " training examples" : std::string())
       << ".\n\n";
    md << "Each mean is over the seeds that finished (n); the interval is the 95 % confidence interval of "
          "the "
          "mean, mean ± t(0.975, n − 1)·sd/√n with the sample standard deviation (Student t). Comparisons "
          "are "
          "paired by seed (same seed, same data order): the interval is that of the mean difference, and the "
          "verdict is *agrees* when it lies above 0, *disagrees* when below, *inconclusive* otherwise."
       << (s.gates.empty() ? ""
                           : " A gate (≥ a bar) is judged on the interval of the arm's values minus the bar: "
                             "*met* when it "
                             "lies at or above 0, *not met* when below, *inconclusive* otherwise.")
       << "\n\n";
    if (!plotFile.empty()) md << "![" << s.id << "](" << plotFile << ")\n\n";
    md << "| arm | budget | trained % | task | metric | n | mean [95 % CI] | sd | missing |\n"
          "|---|---|---|---|---|---|---|---|---|\n";
    for (const auto& c : r.cells) {
        std::string missing;
        for (const auto& m : c.missing)
            missing += (missing.empty() ? "" : "; ") + m;
        md << "| " << armLabel(s, c.arm) << " | " << budgetText(c.budget) << " | "
           << (c.trained_pct > 0 ? num(c.trained_pct, "%.3g") : std::string("—")) << " | " << c.task << " | "
           << (c.metric_name.empty() ? "—" : c.metric_name) << " | " << c.summary.n << " | "
           << meanText(c.summary) << " | " << (c.summary.hasInterval() ? num(c.summary.sd, "%.4f") : "—")
           << " | " << (missing.empty() ? "—" : missing) << " |\n";
    }
    if (!r.verdicts.empty()) {
        md << "\n## Verdicts\n\n| comparison or gate | task | n | difference [95 % CI] | verdict "
              "|\n|---|---|---|---|---|\n";
        for (const auto& v : r.verdicts)
            md << "| " << verdictSubject(s, v) << " | " << v.task << " | " << v.verdict.difference.n << " | "
               << meanText(v.verdict.difference) << " | **" << verdictWord(v) << "**"
               << (v.verdict.kind != VerdictKind::Inconclusive ? std::string()
                   : !v.verdict.difference.hasInterval()       ? std::string(" (needs at least 2 seeds)")
                   : v.verdict.seeds_needed > 0
                       ? " (~" + std::to_string(v.verdict.seeds_needed) + " seeds would decide it)"
                       : std::string(" (no difference observed)"))
               << " |\n";
    } else {
        md << "\nNo comparisons: a descriptive study.\n";
    }
    for (const auto& c : r.ceilings) {
        md << "\n**Headroom** (" << c.metric << ", ceiling " << num(c.ceiling) << "): the best arm"
           << (s.reference.empty() ? "" : " apart from the reference") << ", " << c.best_arm << ", averages "
           << num(c.best_mean, "%.3f") << ", " << num(c.distance, "%.3f") << " below the ceiling.";
        if (!c.at_ceiling.empty()) {
            md << " At the ceiling (within 0.5 %):";
            for (size_t i = 0; i < c.at_ceiling.size(); ++i)
                md << (i ? ", " : " ") << c.at_ceiling[i];
            md << " — a comparison with an arm there cannot show how much better it could be.";
        }
        md << "\n";
    }
    int64_t missing = 0;
    for (const auto& c : r.cells)
        missing += static_cast<int64_t>(c.missing.size());
    md << "\n"
       << r.runs.size() << " runs planned, " << (int64_t(r.runs.size()) - missing) << " finished"
       << (missing ? "; the others are listed under *missing* and left out of the means (n says how many "
                     "remain)."
                   : ".")
       << "\n";
    return md.str();
}

std::string reportCsv(const StudyReport& r) {
    std::string csv = "run,arm,budget_pct,task,seed,state,trained_pct,metric_name,metric\n";
    for (const auto& x : r.runs)
        csv += std::to_string(x.run) + "," + csvField(x.cell.arm) + "," + num(x.cell.budget) + "," +
               csvField(x.cell.task) + "," + std::to_string(x.cell.seed) + "," +
               (x.run ? toString(x.state) : "not queued") + "," + num(x.trained_pct, "%.6g") + "," +
               csvField(x.metric_name) + "," + (x.metric ? num(*x.metric, "%.6f") : std::string()) + "\n";
    return csv;
}

std::string reportLatex(const Study& s, const StudyReport& r) {
    std::ostringstream t;
    t << "% " << latexEscape(s.title) << " (study " << latexEscape(s.id)
      << "): mean and 95 % t interval over seeds\n"
      << "\\begin{tabular}{llrlrl}\n\\hline\nArm & Budget & Trained \\% & Task & $n$ & Mean [95\\% CI] \\\\\n"
         "\\hline\n";
    for (const auto& c : r.cells)
        t << latexEscape(armLabel(s, c.arm)) << " & " << latexEscape(budgetText(c.budget)) << " & "
          << num(c.trained_pct, "%.3g") << " & " << latexEscape(c.task) << " & " << c.summary.n << " & "
          << latexEscape(meanText(c.summary)) << " \\\\\n";
    t << "\\hline\n\\end{tabular}\n";
    return t.str();
}

std::vector<double> spreadApart(const std::vector<double>& xs, double gap) {
    std::vector<size_t> order(xs.size());
    for (size_t i = 0; i < order.size(); ++i)
        order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return xs[a] < xs[b]; });
    std::vector<double> out = xs;
    for (size_t begin = 0; begin < order.size();) {
        size_t end = begin + 1;
        double sum = xs[order[begin]];
        while (end < order.size() && xs[order[end]] - xs[order[end - 1]] < gap)
            sum += xs[order[end++]];
        const double k = double(end - begin), centre = sum / k;
        if (end - begin > 1)
            for (size_t i = begin; i < end; ++i)
                out[order[i]] = centre + (double(i - begin) - (k - 1) / 2) * gap;
        begin = end;
    }
    return out;
}

std::string reportSvg(const Study& s, const StudyReport& r) {
    // Metric against trained % (log x): per arm its means with 95 % whiskers, joined across budgets; the
    // reference arm as a band. One task (the first) per plot.
    const double W = 860, H = 440, L = 70, R = 300, T = 40, B = 50;
    std::vector<const StudyCellSummary*> cells;
    const std::string task = r.cells.empty() ? std::string() : r.cells.front().task;
    double xlo = 1e9, xhi = 0, ylo = 1e9, yhi = -1e9;
    for (const auto& c : r.cells)
        if (c.task == task && c.summary.n > 0 && c.trained_pct > 0) {
            cells.push_back(&c);
            xlo = std::min(xlo, c.trained_pct), xhi = std::max(xhi, c.trained_pct);
            ylo = std::min(ylo, c.summary.lo), yhi = std::max(yhi, c.summary.hi);
        }
    std::ostringstream svg;
    svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H
        << "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" "
           "fill=\"white\"/>\n"
        << "<text x=\"" << L << "\" y=\"22\" font-size=\"14\">" << (s.title.empty() ? s.id : s.title) << " — "
        << task << "</text>\n";
    if (cells.empty()) {
        svg << "<text x=\"" << W / 2 << "\" y=\"" << H / 2
            << "\" text-anchor=\"middle\" fill=\"gray\">no finished "
            << "runs yet</text>\n</svg>\n";
        return svg.str();
    }
    const double lx0 = std::log10(xlo) - 0.3, lx1 = std::log10(xhi) + 0.3;
    const double pad = std::max(0.01, (yhi - ylo) * 0.1);
    ylo -= pad, yhi += pad;
    auto X = [&](double pct) { return L + (std::log10(pct) - lx0) / (lx1 - lx0) * (W - L - R); };
    // Points at one budget are spread sideways, 9 px apart, so that none hides another.
    std::vector<double> placed;
    for (const auto* c : cells)
        placed.push_back(X(c->trained_pct));
    placed = spreadApart(placed, 9.0);
    auto at = [&](const StudyCellSummary* c) {
        return placed[size_t(std::find(cells.begin(), cells.end(), c) - cells.begin())];
    };
    auto Y = [&](double v) { return T + (yhi - v) / (yhi - ylo) * (H - T - B); };
    svg << "<rect x=\"" << L << "\" y=\"" << T << "\" width=\"" << W - L - R << "\" height=\"" << H - T - B
        << "\" fill=\"none\" stroke=\"#888\"/>\n";
    for (int e = int(std::floor(lx0)); e <= int(std::ceil(lx1)); ++e) {
        const double pct = std::pow(10.0, e);
        if (std::log10(pct) < lx0 || std::log10(pct) > lx1) continue;
        svg << "<text x=\"" << X(pct) << "\" y=\"" << H - B + 16 << "\" text-anchor=\"middle\">" << num(pct)
            << "</text>\n";
    }
    for (int i = 0; i <= 4; ++i) {
        const double v = ylo + (yhi - ylo) * i / 4;
        svg << "<text x=\"" << L - 6 << "\" y=\"" << Y(v) + 4 << "\" text-anchor=\"end\">" << num(v, "%.3f")
            << "</text>\n";
    }
    svg << "<text x=\"" << (L + W - R) / 2 << "\" y=\"" << H - 12 << "\" text-anchor=\"middle\">trained "
        << "parameters (% of the backbone, log scale; arms at one budget spread sideways)</text>\n";
    svg << "<text transform=\"translate(16," << (T + H - B) / 2 << ") rotate(-90)\" text-anchor=\"middle\">"
        << (cells.front()->metric_name.empty() ? "metric" : "best dev " + cells.front()->metric_name)
        << " (mean, 95 % CI)</text>\n";
    static const char* colors[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                   "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
    int legend = 0;
    for (size_t a = 0; a < s.arms.size(); ++a) {
        const std::string color = colors[a % 10];
        std::vector<const StudyCellSummary*> mine;
        for (const auto* c : cells)
            if (c->arm == s.arms[a].id) mine.push_back(c);
        if (mine.empty()) continue;
        std::sort(mine.begin(), mine.end(),
                  [](const auto* p, const auto* q) { return p->trained_pct < q->trained_pct; });
        if (s.arms[a].id == s.reference) {  // a band across the plot
            const Summary& m = mine.front()->summary;
            svg << "<rect x=\"" << L << "\" y=\"" << Y(m.hi) << "\" width=\"" << W - L - R << "\" height=\""
                << std::max(1.0, Y(m.lo) - Y(m.hi)) << "\" fill=\"" << color << "\" opacity=\"0.2\"/>\n"
                << "<line x1=\"" << L << "\" x2=\"" << W - R << "\" y1=\"" << Y(m.mean) << "\" y2=\""
                << Y(m.mean) << "\" stroke=\"" << color << "\" stroke-dasharray=\"6 4\"/>\n";
        }
        std::string path;
        for (const auto* c : mine) {
            const double x = at(c);
            path += (path.empty() ? "M" : " L") + num(x, "%.1f") + "," + num(Y(c->summary.mean), "%.1f");
            if (c->summary.hasInterval())
                svg << "<line x1=\"" << x << "\" x2=\"" << x << "\" y1=\"" << Y(c->summary.lo) << "\" y2=\""
                    << Y(c->summary.hi) << "\" stroke=\"" << color << "\"/>\n";
            svg << "<circle cx=\"" << x << "\" cy=\"" << Y(c->summary.mean) << "\" r=\"4\" fill=\"" << color
                << "\"/>\n";
        }
        if (mine.size() > 1) svg << "<path d=\"" << path << "\" fill=\"none\" stroke=\"" << color << "\"/>\n";
        svg << "<rect x=\"" << W - R + 14 << "\" y=\"" << T + 18 * legend
            << "\" width=\"12\" height=\"12\" fill=\"" << color << "\"/><text x=\"" << W - R + 32 << "\" y=\""
            << T + 18 * legend + 10 << "\">" << s.arms[a].label << " (n = " << mine.front()->summary.n
            << ")</text>\n";
        ++legend;
    }
    svg << "</svg>\n";
    return svg.str();
}

json reportJson(const Study& s, const StudyReport& r) {
    auto summary = [](const Summary& m) {
        json j = {{"n", m.n}, {"mean", m.mean}};
        if (m.hasInterval()) j.update({{"sd", m.sd}, {"ci95", {m.lo, m.hi}}});
        return j;
    };
    json cells = json::array(), verdicts = json::array(), runs = json::array();
    for (const auto& c : r.cells)
        cells.push_back({{"arm", c.arm},
                         {"budget_pct", c.budget},
                         {"task", c.task},
                         {"trained_pct", c.trained_pct},
                         {"metric", c.metric_name},
                         {"summary", summary(c.summary)},
                         {"missing", c.missing}});
    for (const auto& v : r.verdicts) {
        json j = {{"subject", verdictSubject(s, v)},
                  {"task", v.task},
                  {"difference", summary(v.verdict.difference)},
                  {"verdict", verdictWord(v)},
                  {"seeds_needed", v.verdict.seeds_needed},
                  {"text", v.verdict.text}};
        if (v.gate)
            j.update({{"gate", v.comparison.better}, {"at_least", *v.gate}, {"budget_pct", v.budget_better}});
        else
            j.update({{"better", v.comparison.better},
                      {"worse", v.comparison.worse},
                      {"budget_better_pct", v.budget_better},
                      {"budget_worse_pct", v.budget_worse}});
        verdicts.push_back(j);
    }
    for (const auto& x : r.runs) {
        json j = {
            {"run", x.run}, {"cell", x.cell.key()}, {"state", x.run ? toString(x.state) : "not queued"}};
        if (x.metric) j["metric"] = *x.metric;
        runs.push_back(j);
    }
    json ceilings = json::array();
    for (const auto& c : r.ceilings)
        ceilings.push_back({{"metric", c.metric},
                            {"ceiling", c.ceiling},
                            {"best_arm", c.best_arm},
                            {"best_mean", c.best_mean},
                            {"distance", c.distance},
                            {"at_ceiling", c.at_ceiling}});
    return {
        {"study", s.id}, {"cells", cells}, {"verdicts", verdicts}, {"ceilings", ceilings}, {"runs", runs}};
}

}  // namespace peft
