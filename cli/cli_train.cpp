// SPDX-License-Identifier: GPL-3.0-or-later
// peftwb train, score and bench.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/text_table.h"
#include "data/coverage.h"
#include "data/file_data.h"
#include "data/world.h"
#include "io/adapter.h"
#include "io/backbone.h"
#include "io/safetensors.h"
#include "model/transformer.h"
#include "peft/accounting.h"
#include "peft/presets.h"
#include "project/project.h"
#include "run/executor.h"
#include "run/recorder.h"
#include "train/flops.h"
#include "train/generate.h"
#include "train/metrics.h"
#include "train/trainer.h"
#include "util/error.h"
#include "util/precision.h"
#include "util/system.h"
#include "util/torch_runtime.h"

namespace peft {

namespace {

using json = nlohmann::json;

std::string formatDuration(double s) {
    if (!(s >= 0) || s > 1e7) return "--:--";
    const long t = std::lround(s);
    char buf[32];
    if (t >= 3600)
        std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else
        std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
    return buf;
}

/// Progress on stderr (one line rewritten in place, at most 5 times a second), metrics as JSON Lines.
class CliObserver : public TrainObserver {
public:
    CliObserver(std::ostream& err, std::ostream* metrics, bool quiet, std::string taskMetric)
        : err_(err), metrics_(metrics), quiet_(quiet), taskMetric_(std::move(taskMetric)) {}
    /// The dev metric printed as evaluations come (known once the run's data is prepared).
    void setTaskMetric(std::string m) { taskMetric_ = std::move(m); }
    void onProgress(int64_t step, int64_t total, double rate, double eta) override {
        const auto now = std::chrono::steady_clock::now();
        if (quiet_ || (step != total && now - last_ < std::chrono::milliseconds(200))) return;
        last_ = now;
        char buf[200];
        std::snprintf(buf, sizeof buf, "\rstep %lld/%lld  %.2f steps/s  ETA %s  loss %.4f   ",
                      static_cast<long long>(step), static_cast<long long>(total), rate,
                      formatDuration(eta).c_str(), loss_);
        err_ << buf << std::flush;
        lineOpen_ = true;
    }
    void onMetric(const MetricPoint& p) override {
        if (p.split == "train" && p.name == "loss") loss_ = p.value;
        if (metrics_) {
            json j = {{"step", p.step}, {"split", p.split}, {"name", p.name}, {"wall_time", p.wall_time}};
            j["value"] =
                std::isfinite(p.value) ? json(p.value) : json(std::isnan(p.value) ? "NaN" : "Infinity");
            *metrics_ << j.dump() << "\n";
        }
        if (!quiet_ && p.split == "dev" && p.name == taskMetric_) {
            char buf[160];
            std::snprintf(buf, sizeof buf, "dev %s %.4f at step %lld", p.name.c_str(), p.value,
                          static_cast<long long>(p.step));
            line(buf);
        }
    }
    void onStatus(RunStatus s, const std::string& msg) override {
        if (!quiet_ && !msg.empty() && s != RunStatus::Running) line(std::string(toString(s)) + ": " + msg);
    }
    void finish() {
        if (lineOpen_) err_ << "\n";
        lineOpen_ = false;
    }

private:
    void line(const std::string& text) {
        finish();
        err_ << text << "\n";
    }
    std::ostream& err_;
    std::ostream* metrics_;
    bool quiet_;
    std::string taskMetric_;
    bool lineOpen_ = false;
    double loss_ = 0;
    std::chrono::steady_clock::time_point last_{};
};

/// --task NAME or --data FILE (with --dev, --test and the mapping options); --train-size for a built-in task.
DataRef dataRefFromArgs(const Args& a) {
    const auto task = a.get("task");
    const auto data = a.get("data");
    if (task && data) throw Error("--task", "give --task or --data, not both");
    DataRef d;
    if (task) {
        try {
            builtinTaskLabels(*task);
        } catch (const Error& e) {
            throw Error("--task", e.reason());
        }
        d.task = *task;
        d.train_size = a.getInt("train-size").value_or(0);
        if (auto limit = a.getInt("limit"); limit && *limit > 0)
            d.train_size = std::min(*limit, d.train_size > 0 ? d.train_size : TaskSizes{}.train);
        return d;
    }
    if (!data)
        throw Error("--task",
                    "missing: give --task NAME (sentiment, entailment, summarization, translation) or "
                    "--data FILE");
    FileDatasetSpec spec = fileSpecFromArgs(a);
    std::error_code ec;
    for (std::string* p : {&spec.train, &spec.dev, &spec.test})
        if (!p->empty()) *p = std::filesystem::absolute(*p, ec).lexically_normal().string();
    d.files = spec;
    return d;
}

}  // namespace

TrainConfig trainConfigFromArgs(const Args& a, TrainConfig tc) {
    for (const TrainConfigField& f : trainConfigFields())
        if (auto v = a.get(f.flag)) setTrainConfigField(tc, f, *v, std::string("--") + f.flag);
    return tc;
}

std::string trainSettingsHelp() {
    std::string s;
    const TrainConfig d;
    for (const TrainConfigField& f : trainConfigFields()) {
        std::string left =
            std::string("  --") + f.flag + " " + (f.key == std::string("schedule") ? "NAME" : "X");
        left.resize(std::max<size_t>(left.size() + 1, 26), ' ');
        s += left + f.help + " (default " + trainConfigFieldValue(d, f).dump() + ")\n";
    }
    return s;
}

namespace {

/// The run `peftwb train` describes: the spec sized for the backbone (or the adapter's), every training
/// setting (the table's options over the command's defaults), the data and the backbone reference.
RunRecipe recipeFromArgs(const Args& a) {
    RunRecipe r;
    r.data = dataRefFromArgs(a);
    r.backbone = backboneRefFromArgs(a);
    const ModelConfig cfg = backboneRefConfig(r.backbone, "backbone");
    const bool generation = r.data.files ? false : builtinTaskLabels(r.data.task).empty();
    // The command's own defaults, where they differ from TrainConfig's: the preset's learning rate, the
    // backbone's length, 200 dev examples for decoding, 24 new tokens.
    TrainConfig tc;
    tc.lr = a.get("preset") ? presetById(*a.get("preset")).default_lr : 1e-3;
    tc.max_length = cfg.max_positions;
    tc.max_eval_examples = generation ? 200 : 0;
    tc.max_new_tokens = 24;
    r.train = trainConfigFromArgs(a, tc);
    checkThreadCount(r.train.threads, "--threads");
    if (const auto adapter = a.get("adapter")) {  // continue training an adapter (PEFT's or native)
        if (a.get("preset") || a.get("spec"))
            throw Error("--adapter", "the adapter brings its own spec: give --adapter or --preset / --spec");
        std::error_code ec;
        r.init_adapter = std::filesystem::absolute(*adapter, ec).lexically_normal().string();
        LoadedBackbone lb = openBackbone(r.backbone, 0, r.train.seed);
        r.spec = importAdapter(r.init_adapter, lb.model,
                               lb.info.is_object() ? lb.info.value("model_type", "") : std::string())
                     .spec;
    } else {
        r.spec = chosenSpec(a, cfg);
    }
    return r;
}

/// Prints what is about to train (stderr), once the run is prepared.
void describeRun(const PreparedRun& p, std::ostream& err) {
    for (const auto& n : p.notes)
        err << "note: " << n << "\n";
    const ParamReport rep = countParams(p.recipe.spec, p.backbone.config);
    const Dataset& ds = p.data;
    err << "training '" << p.recipe.spec.name << "' on " << ds.name << " (" << ds.train.size() << " examples"
        << (ds.label_names.empty() ? "" : ", " + std::to_string(ds.label_names.size()) + " labels")
        << ", dev " << ds.dev.size() << ") with backbone '" << p.backbone.name << "'"
        << (p.recipe.backbone.random_init ? " (random init)" : "") << "; " << rep.summaryLine() << "\n";
}

}  // namespace

int cmdTrain(const Args& a, std::ostream& out, std::ostream& err) {
    std::ofstream metricsFile;
    if (auto path = a.get("metrics")) {
        metricsFile.open(*path);
        if (!metricsFile) throw Error("--metrics", "cannot write " + *path);
    }
    CliObserver obs(err, metricsFile.is_open() ? &metricsFile : nullptr, a.flag("quiet"), "");
    ExecuteOptions opts;
    opts.observer = &obs;
    PreparedRun ran;  // what trains, as prepared (the record with max_length, pad / eos filled in)
    opts.onPrepared = [&](const PreparedRun& p) {
        describeRun(p, err);
        obs.setTaskMetric(p.data.metric);
        ran.recipe = p.recipe;
        ran.backbone.name = p.backbone.name;
        ran.backbone.config = p.backbone.config;
        ran.data.name = p.data.name;
        ran.data.label_names = p.data.label_names;
    };

    // --project FILE records the run (created when missing) and trains it as any queued run is trained;
    // --resume ID continues an interrupted one from its record alone.
    TrainResult r;
    std::optional<int64_t> runId;
    if (auto file = a.get("project")) {
        if (auto resume = a.getInt("resume")) {
            runId = *resume;
            for (const char* own : {"preset", "spec", "task", "data", "adapter", "model", "config"})
                if (a.get(own))
                    throw Error(
                        std::string("--") + own,
                        "a resumed run trains as recorded: give only --project, --resume and --threads");
            {
                auto p = Project::open(*file);
                for (const auto& m : p->openMessages())
                    err << *file << ": " << m << "\n";
                if (p->run(*runId).state == RunState::Finished)
                    throw Error("--resume", "run " + std::to_string(*runId) + " already finished");
            }
            err << "resuming run " << *runId << " of " << *file << "\n";
            opts.resume = true;
            opts.threads = a.getInt("threads");  // this machine's setting, not the record's
        } else {
            const RunRecipe recipe = recipeFromArgs(a);
            std::unique_ptr<Project> project;
            if (std::filesystem::exists(*file)) {
                project = Project::open(*file);
                for (const auto& m : project->openMessages())
                    err << *file << ": " << m << "\n";
                if (project->readOnly()) throw Error(*file, "cannot record a run: the project is read-only");
            } else {
                project = Project::create(*file, backboneRefToJson(recipe.backbone));
                err << "created project " << *file << "\n";
            }
            const std::string name =
                a.get("name").value_or(recipe.spec.name + " on " + dataName(recipe.data));
            runId = addRun(*project, name, a.get("preset").value_or(a.get("adapter") ? "adapter" : "custom"),
                           recipe, a.get("notes").value_or(""));
            err << "recording run " << *runId << " into " << *file << "\n";
        }
        r = executeRun(*file, *runId, opts);
    } else {
        if (a.get("resume")) throw Error("--resume", "needs --project FILE");
        PreparedRun local = prepareRun(recipeFromArgs(a), "train");
        r = executeRun(local, nullptr, 0, opts);
    }
    obs.finish();
    const ParamReport rep = countParams(ran.recipe.spec, ran.backbone.config);
    if (auto path = a.get("save")) {
        if (r.best_state.empty())
            throw Error("--save", "no evaluation ran, so there is no best checkpoint to save");
        saveTrainable(*path, r.best_state, ran.recipe.spec,
                      {{"task", ran.data.name},
                       {"metric", r.metric_name},
                       {"best_dev_metric", r.best_dev_metric},
                       {"best_step", r.best_step},
                       {"backbone", ran.backbone.name},
                       {"labels", ran.data.label_names}});
    }

    json j = {{"status", toString(r.status)},
              {"message", r.message},
              {"task", ran.data.name},
              {"metric_name", r.metric_name},
              {"best_dev_metric", r.best_dev_metric},
              {"best_step", r.best_step},
              {"steps", r.steps_done},
              {"seconds", r.seconds},
              {"trained", rep.trained},
              {"trained_pct", rep.trainedPct()},
              {"spec", ran.recipe.spec.name},
              {"backbone", ran.backbone.name},
              {"device", ran.recipe.train.device},
              {"threads", currentThreadCount()}};
    if (runId) j["run"] = *runId;
    if (a.flag("json")) {
        out << j.dump() << "\n";
    } else {
        char buf[300];
        std::snprintf(buf, sizeof buf,
                      "%s: best dev %s %.4f at step %lld; %lld steps in %.1f s (%s, %d threads)\n",
                      toString(r.status), r.metric_name.c_str(), r.best_dev_metric,
                      static_cast<long long>(r.best_step), static_cast<long long>(r.steps_done), r.seconds,
                      ran.recipe.train.device.c_str(), currentThreadCount());
        out << buf;
    }
    return r.status == RunStatus::Finished ? 0 : (r.status == RunStatus::Diverged ? 3 : 1);
}

// ----- demo (the workbench's job, headless) ----------------------------------------------------------

int cmdDemo(const Args& a, std::ostream& out, std::ostream& err) {
    RunRecipe base;
    base.backbone = backboneRefFromArgs(a);
    base.data.task = "sentiment";
    base.data.train_size = a.getInt("train-size").value_or(2000);
    const ModelConfig cfg = backboneRefConfig(base.backbone, "backbone");
    const int64_t steps = a.getInt("steps").value_or(200);
    const uint64_t seed = uint64_t(a.getInt("seed").value_or(0));
    std::vector<std::string> ids;
    {
        std::stringstream ss(a.get("presets").value_or("full,bitfit,lora,pa-ffn,mam"));
        for (std::string id; std::getline(ss, id, ',');)
            ids.push_back(presetById(id).id);  // an unknown id is an error naming the presets
    }
    if (std::find(ids.begin(), ids.end(), "full") == ids.end())
        ids.insert(ids.begin(), "full");  // the reference

    // A project of its own: kept with --project, else in a temporary folder removed at the end.
    namespace fs = std::filesystem;
    std::string path = a.get("project").value_or("");
    fs::path tempDir;
    if (path.empty()) {
        tempDir = fs::temp_directory_path() / ("peftwb-demo-" + std::to_string(::getpid()));
        fs::create_directories(tempDir);
        path = (tempDir / "demo.peftproj").string();
    }
    struct Cleanup {
        fs::path dir;
        ~Cleanup() {
            std::error_code ec;
            if (!dir.empty()) fs::remove_all(dir, ec);
        }
    } cleanup{tempDir};
    std::vector<std::pair<std::string, int64_t>> runs;  // preset id, run id
    {
        auto project =
            fs::exists(path) ? Project::open(path) : Project::create(path, backboneRefToJson(base.backbone));
        for (const auto& id : ids) {
            RunRecipe r = base;
            r.spec = resolvePreset(presetById(id), cfg);
            r.train = presetTrainConfig(id, steps, seed);
            r.train.threads = int(a.getInt("threads").value_or(0));
            runs.emplace_back(id, addRun(*project, presetById(id).name + " on sentiment", id, r));
        }
    }
    out << "PEFT Workbench " << appVersion() << " — headless demo: " << ids.size()
        << " presets on the built-in sentiment task (" << base.data.train_size << " training examples, "
        << steps << " steps each, seed " << seed << ") with the backbone '" << cfg.name << "' ("
        << backboneParamCount(cfg) << " parameters)\n\n"
        << std::flush;

    struct Row {
        std::string preset;
        double trainedPct = 0, accuracy = 0, seconds = 0;
        std::string status;
    };
    std::vector<Row> rows;
    for (size_t i = 0; i < runs.size(); ++i) {
        const auto& [id, run] = runs[i];
        if (!a.flag("quiet")) err << "[" << i + 1 << "/" << runs.size() << "] " << id << "\n";
        CliObserver obs(err, nullptr, a.flag("quiet"), "accuracy");
        ExecuteOptions opts;
        opts.observer = &obs;
        const TrainResult r = executeRun(path, run, opts);
        obs.finish();
        Row row;
        row.preset = id;
        row.trainedPct = countParams(resolvePreset(presetById(id), cfg), cfg).trainedPct();
        row.accuracy = r.best_dev_metric;
        row.seconds = r.seconds;
        row.status = toString(r.status);
        rows.push_back(row);
    }
    const double full =
        std::find_if(rows.begin(), rows.end(), [](const Row& r) { return r.preset == "full"; })->accuracy;
    const int64_t devExamples = TaskSizes{}.dev;
    TextTable table({{"preset"},
                     {"trained %", true},
                     {"dev accuracy [95 % CI]"},
                     {"Δ vs full", true},
                     {"seconds", true},
                     {"status"}});
    for (const Row& r : rows) {
        const auto [lo, hi] = wilsonInterval(r.accuracy, devExamples);
        char trained[32], acc[64], delta[32], seconds[32];
        std::snprintf(trained, sizeof trained, "%.3f", r.trainedPct);
        std::snprintf(acc, sizeof acc, "%.3f [%.3f, %.3f]", r.accuracy, lo, hi);
        if (r.preset == "full")
            std::snprintf(delta, sizeof delta, "reference");
        else
            std::snprintf(delta, sizeof delta, "%+.3f", r.accuracy - full);
        std::snprintf(seconds, sizeof seconds, "%.1f", r.seconds);
        table.add({r.preset, trained, acc, delta, seconds, r.status});
    }
    table.print(out);
    out << "\nDev accuracy: the best evaluation's, on the " << devExamples
        << " dev examples, with the 95 % Wilson score interval over\n"
           "those examples. One seed per preset (n = 1): the variation between seeds is not in the interval, "
           "so\n"
           "differences inside the intervals are not findings.\n";

    const auto mam = std::find_if(runs.begin(), runs.end(), [](const auto& r) { return r.first == "mam"; });
    if (mam != runs.end()) {
        const std::string text = "the plot was not bad .";
        const LambdaMap lam = lambdaOfRun(path, mam->second, text);
        out << "\nλ(x) of the trained MAM's gated prefix (" << lam.weights << ") for \"" << text
            << "\":\nthe prefix's share of each head's attention, mean over heads and tokens, per layer:";
        for (int64_t l = 0; l < lam.layers; ++l) {
            double sum = 0;
            const int64_t per = lam.heads * int64_t(lam.tokens.size());
            for (int64_t k = 0; k < per; ++k)
                sum += lam.values[size_t(l * per + k)];
            out << (l ? ", " : " ") << "layer " << l << " " << std::fixed << std::setprecision(3)
                << sum / double(std::max<int64_t>(per, 1)) << std::defaultfloat;
        }
        out << "\n";
    }
    if (tempDir.empty())
        out << "\nThe runs are in " << path << " (open it in the workbench: peft-workbench " << path << ")\n";
    return std::all_of(rows.begin(), rows.end(), [](const Row& r) { return r.status == "finished"; }) ? 0 : 1;
}

namespace {

/// One TSV row per example scored: its index, gold and predicted label (classification) or reference and
/// output (generation), and the input as the model read it (decoded; tabs and line breaks become spaces).
void writePredictions(const std::string& path, const Dataset& ds, const std::vector<Example>& examples,
                      const EvalResult& ev,
                      const std::function<std::string(const std::vector<int64_t>&)>& decode) {
    auto cell = [](std::string t) {
        std::replace_if(
            t.begin(), t.end(), [](char c) { return c == '\t' || c == '\n' || c == '\r'; }, ' ');
        return t;
    };
    auto input = [&](const Example& e) {
        if (decode) return cell(decode(e.ids));
        std::string ids;
        for (const int64_t id : e.ids)
            ids += (ids.empty() ? "" : " ") + std::to_string(id);
        return ids;
    };
    std::ofstream f(path);
    if (!f) throw Error(path, "cannot be written");
    const bool classes = ds.kind == TaskKind::Classification;
    f << (classes ? "index\tgold\tpredicted\tinput\n" : "index\treference\toutput\tinput\n");
    const size_t n = ev.examples;
    for (size_t i = 0; i < n; ++i) {
        const Example& e = examples[i];
        f << i << '\t';
        if (classes)
            f << ds.label_names.at(size_t(e.label)) << '\t'
              << ds.label_names.at(size_t(ev.predicted_labels.at(i)));
        else
            f << cell(e.reference) << '\t'
              << cell(i < ev.predictions.size() ? ev.predictions[i] : std::string());
        f << '\t' << input(e) << '\n';
    }
    if (!f.flush()) throw Error(path, "write failed");
}

}  // namespace

int cmdEval(const Args& a, std::ostream& out, std::ostream&) {
    const auto ckpt = a.get("checkpoint");
    const auto adapter = a.get("adapter");
    if (!ckpt && !adapter)
        throw Error("--checkpoint", "missing: a file written by 'peftwb train --save', or --adapter DIR");
    if (ckpt && adapter) throw Error("--adapter", "give --checkpoint or --adapter, not both");
    const DataRef data = dataRefFromArgs(a);
    std::optional<FileData> files;
    if (data.files) files = readFileData(*data.files);
    const auto labels = files ? files->labels : builtinTaskLabels(data.task);
    applyThreadCount(static_cast<int>(a.getInt("threads").value_or(0)));
    LoadedBackbone lb = chosenBackbone(a, int64_t(labels.size()), 0);
    Dataset ds = buildRunData(lb, data, files, lb.config.max_positions);
    if (adapter) {
        importAdapter(*adapter, lb.model,
                      lb.info.is_object() ? lb.info.value("model_type", "") : std::string());
    } else {
        const SafetensorsFile file = readSafetensors(*ckpt);
        auto specIt = file.metadata.find("spec");
        if (specIt == file.metadata.end())
            throw Error(*ckpt, "not a peft-workbench checkpoint (no spec in its metadata)");
        const Spec fromFile = specFromJsonText(specIt->second, *ckpt + " (spec)");
        validate(fromFile, lb.config);
        lb.model->applySpec(fromFile);
        loadTrainableInto(lb.model, file.tensors, *ckpt);
    }
    const Spec spec = lb.model->spec();
    const std::string split = a.get("split").value_or("dev");
    if (split != "dev" && split != "test")
        throw Error("--split", "expected dev or test, got '" + split + "'");
    const std::vector<Example>& examples = split == "dev" ? ds.dev : ds.test;
    if (examples.empty()) throw Error("--split", "the " + split + " split is empty (give --dev for a TSV)");
    TrainConfig tc;
    tc.max_eval_examples = ds.kind == TaskKind::Generation ? 200 : 0;
    tc.max_new_tokens = 24;
    tc.max_length = lb.config.max_positions;
    tc = trainConfigFromArgs(a, tc);
    tc.steps = 1;
    if (tc.pad_id < 0) tc.pad_id = lb.special.pad;
    if (tc.eos_id < 0) tc.eos_id = lb.special.eos;
    Trainer trainer(lb.model, ds, tc, lb.detokenizer());
    const EvalResult ev = trainer.evaluate(examples);
    // The examples scored: the split, or its first --max-eval.
    json j = {{"split", split}, {"examples", ev.examples}, {"spec", spec.name}, {"metrics", ev.metrics}};
    const bool classes = ds.kind == TaskKind::Classification;
    const size_t C = ds.label_names.size();
    std::vector<std::vector<int64_t>> confusion(C, std::vector<int64_t>(C, 0));  // [gold][predicted]
    if (classes) {
        for (size_t i = 0; i < ev.predicted_labels.size(); ++i)
            ++confusion.at(size_t(examples[i].label)).at(size_t(ev.predicted_labels[i]));
        j["labels"] = ds.label_names;
        j["confusion"] = confusion;
    }
    if (const auto file = a.get("predictions")) {
        writePredictions(*file, ds, examples, ev, lb.detokenizer());
        j["predictions"] = *file;
    }
    if (a.flag("json")) {
        out << j.dump() << "\n";
        return 0;
    }
    out << split << " (" << ev.examples << " of " << examples.size() << " examples):";
    for (const auto& [name, value] : ev.metrics)
        out << " " << name << " " << value;
    out << "\n";
    if (classes) {
        size_t width = 9;  // every column as wide as the longest label name, and a margin
        for (const auto& l : ds.label_names)
            width = std::max(width, l.size() + 2);
        out << "confusion (rows: gold, columns: predicted)\n" << std::string(width, ' ');
        for (const auto& l : ds.label_names)
            out << std::setw(int(width)) << l;
        out << "\n";
        for (size_t g = 0; g < C; ++g) {
            out << std::left << std::setw(int(width)) << ds.label_names[g] << std::right;
            for (size_t q = 0; q < C; ++q)
                out << std::setw(int(width)) << confusion[g][q];
            out << "\n";
        }
    }
    if (const auto file = a.get("predictions")) out << "wrote " << *file << "\n";
    return 0;
}

/// The language-model probes' scope: evaluation mode, no gradients; the model's mode restored after.
class ProbeMode {
public:
    explicit ProbeMode(Transformer& model) : model_(model), wasTraining_(model->is_training()) {
        model_->eval();
    }
    ~ProbeMode() { model_->train(wasTraining_); }
    ProbeMode(const ProbeMode&) = delete;
    ProbeMode& operator=(const ProbeMode&) = delete;

private:
    Transformer& model_;
    torch::NoGradGuard noGrad_;
    bool wasTraining_;
};

/// The LM head's logits at the last position of <bos> + `text` (eval mode, no gradients).
torch::Tensor nextTokenLogits(Transformer& model, const WordTokenizer& tok, const std::string& text) {
    std::vector<int64_t> ids = {WordTokenizer::kBos};
    const auto body = tok.encode(text);
    ids.insert(ids.end(), body.begin(), body.end());
    ForwardOptions fo;
    fo.lm = true;
    return model->forward(torch::tensor(ids, torch::kLong).unsqueeze(0), torch::Tensor(), torch::Tensor(), fo)
        .lm_logits[0][-1];
}

/// Which of `words` the language model ranks first after <bos> + `text`.
const std::string& topWord(Transformer& model, const WordTokenizer& tok, const std::string& text,
                           const std::vector<std::string>& words) {
    std::vector<int64_t> ids;
    for (const auto& w : words)
        ids.push_back(tok.id(w));
    const torch::Tensor logits = nextTokenLogits(model, tok, text);
    return words[size_t(logits.index_select(0, torch::tensor(ids, torch::kLong)).argmax().item<int64_t>())];
}

/// How often the language model continues a fresh review with the right verdict: after "<review> i" it
/// must rank "liked" (positive) above "did" (… not like it). This is what a frozen backbone offers PEFT.
double verdictAccuracy(Transformer& model, const World& world, const WordTokenizer& tok, int n,
                       uint64_t seed) {
    const ProbeMode mode(model);
    std::mt19937_64 rng(seed * 104729 + 3);
    const int64_t liked = tok.id("liked"), did = tok.id("did");
    int right = 0;
    for (int i = 0; i < n; ++i) {
        const Sentence s = world.sentiment(rng);
        const torch::Tensor logits = nextTokenLogits(model, tok, s.text + " i");
        const bool saysLiked = logits[liked].item<float>() > logits[did].item<float>();
        right += saysLiked == (s.label == 1);
    }
    return double(right) / double(n);
}

/// Whether the language model looks facts up in its context, on fresh premises of the entailment world:
/// after "<premise> so NAME is in the" (how the corpus continues facts), the place it ranks first among all
/// places. `bound`: the place the premise gives NAME; `copied`: any place the premise mentions (copying
/// without binding). Chance is 1 / places for both.
struct LookupScore {
    double bound = 0, copied = 0;
    double copiedChance = 0;  // a uniform guess's chance of naming some place of the premise
    int n = 0;
};
LookupScore lookupAccuracy(Transformer& model, const World& world, const WordTokenizer& tok, int n,
                           uint64_t seed) {
    const ProbeMode mode(model);
    std::mt19937_64 rng(seed * 15485863 + 11);
    LookupScore score;
    int bound = 0, copied = 0;
    double copyChance = 0;
    while (score.n < n) {
        const Sentence s = world.entailment(rng);
        // The premise's "NAME is in the PLACE" clauses.
        std::vector<std::pair<std::string, std::string>> facts;
        const std::string marker = " is in the ";
        for (size_t at = s.text.find(marker); at != std::string::npos; at = s.text.find(marker, at + 1)) {
            const size_t nameStart = s.text.rfind(' ', at - 1);
            const std::string name = s.text.substr(nameStart == std::string::npos ? 0 : nameStart + 1,
                                                   at - (nameStart == std::string::npos ? 0 : nameStart + 1));
            const size_t placeStart = at + marker.size();
            facts.emplace_back(name, s.text.substr(placeStart, s.text.find(' ', placeStart) - placeStart));
        }
        if (facts.empty()) continue;
        const auto& [name, place] = facts[rng() % facts.size()];
        const std::string& best = topWord(model, tok, s.text + " so " + name + " is in the", world.places());
        bound += best == place;
        std::set<std::string> distinct;
        for (const auto& f : facts)
            distinct.insert(f.second);
        copyChance += double(distinct.size()) / double(world.places().size());
        for (const auto& f : facts)
            if (f.second == best) {
                ++copied;
                break;
            }
        ++score.n;
    }
    score.bound = double(bound) / double(score.n);
    score.copied = double(copied) / double(score.n);
    score.copiedChance = copyChance / double(score.n);
    return score;
}

/// Whether the language model copies a word from its context: in a fresh story, after "… NAME saw a COLOR
/// OBJECT . NAME VERB the" the object it ranks first among all objects must be the story's (the only one in
/// the context). Chance is 1 / objects.
double copyAccuracy(Transformer& model, const World& world, const WordTokenizer& tok, int n, uint64_t seed) {
    const ProbeMode mode(model);
    std::mt19937_64 rng(seed * 7368787 + 5);
    int right = 0;
    for (int i = 0; i < n; ++i) {
        const Sentence s = world.story(rng);
        const std::string object = s.target.substr(0, s.target.find(" at the "));
        const std::string word = object.substr(object.rfind(' ') + 1);  // "kuru found a red ball" → ball
        const size_t second = s.text.find(" " + word + " .", s.text.find(" " + word + " .") + 1);
        right += topWord(model, tok, s.text.substr(0, second), world.objects()) == word;
    }
    return double(right) / double(n);
}

int cmdLmProbe(const Args& a, std::ostream& out, std::ostream&) {
    const LoadedBackbone lb = chosenBackbone(a, 0, 0);
    if (!lb.world) throw Error("--model", "the probes are written in the built-in world's words");
    if (lb.config.encoderDecoder())
        throw Error("--model",
                    "the probes read a causal language model's next words; '" + lb.name +
                        "' is an encoder–decoder (its pretraining reports the denoising perplexity)");
    const World world(lb.info.value("world_seed", uint64_t{1}));
    const WordTokenizer& tok = *lb.words;
    Transformer model = lb.model;
    model->applySpec(resolvePreset(presetById("full"), lb.config));
    const int n = int(a.getInt("n").value_or(500));
    const double verdict = verdictAccuracy(model, world, tok, n, 1);
    const LookupScore lookup = lookupAccuracy(model, world, tok, n, 1);
    const double copy = copyAccuracy(model, world, tok, n, 1);
    const json j = {{"backbone", lb.name},
                    {"copy_accuracy", copy},
                    {"copy_chance", 1.0 / double(world.objects().size())},
                    {"examples", n},
                    {"verdict_accuracy", verdict},
                    {"lookup_accuracy", lookup.bound},
                    {"lookup_copied", lookup.copied},
                    {"lookup_chance", 1.0 / double(world.places().size())},
                    {"lookup_copied_chance", lookup.copiedChance}};
    if (a.flag("json")) {
        out << j.dump() << "\n";
    } else {
        out << "verdict accuracy " << verdict << " (chance 0.5); lookup: the right place " << lookup.bound
            << " (chance " << j["lookup_chance"].get<double>() << "), a place of the premise "
            << lookup.copied << " (chance " << lookup.copiedChance << "); copy: the story's object " << copy
            << " (chance " << j["copy_chance"].get<double>() << "), over " << n << " fresh examples\n";
    }
    return 0;
}

int cmdPretrain(const Args& a, std::ostream& out, std::ostream& err) {
    const auto dir = a.get("out");
    if (!dir) throw Error("--out", "missing: the backbone folder to write");
    const uint64_t seed = static_cast<uint64_t>(a.getInt("seed").value_or(1));
    const World world(seed);
    const WordTokenizer tok(world.vocabulary());
    const std::string layout = a.get("layout").value_or("decoder");
    if (layout != "decoder" && layout != "encoder-decoder")
        throw Error("--layout", "expected decoder or encoder-decoder, got '" + layout + "'");
    const bool encDec = layout == "encoder-decoder";
    if (!encDec && a.get("decoder-layers"))
        throw Error("--decoder-layers", "applies to --layout encoder-decoder only");
    ModelConfig cfg;
    cfg.name = encDec ? "world-seq2seq" : "world-lm";
    cfg.vocab_size = tok.vocabSize();
    cfg.d_model = a.getInt("d").value_or(128);
    cfg.n_layers = a.getInt("layers").value_or(4);
    cfg.n_heads = a.getInt("heads").value_or(4);
    cfg.d_ff = 4 * cfg.d_model;
    cfg.max_positions = 128;
    cfg.pad_id = WordTokenizer::kPad;
    cfg.dropout = 0.1;
    cfg.attn_dropout = 0.1;
    if (encDec) {  // the encoder reads both ways; the decoder, causal, starts from <bos>
        cfg.causal = false;
        cfg.decoder_layers = a.getInt("decoder-layers").value_or(cfg.n_layers);
        cfg.decoder_start_id = WordTokenizer::kBos;
    }
    try {
        cfg.validate();
    } catch (const Error& e) {
        throw Error("--" + std::string(e.where() == "decoder_layers" ? "decoder-layers" : e.where()),
                    e.reason());
    }

    // The corpus as generation examples. Decoder layout: <bos> → the line, so every token of the line is
    // predicted. Encoder–decoder: the line with spans masked (text infilling) → the whole line.
    const int64_t lines = a.getInt("lines").value_or(60000);
    Dataset ds;
    ds.name = "world corpus";
    ds.kind = TaskKind::Generation;
    ds.metric = "perplexity";
    const std::string corpus = a.get("corpus").value_or("parallel");  // the shipped backbone's mix
    const CorpusMix mix = corpusMixFromName(corpus);
    std::mt19937_64 rng(seed * 7919 + 17);
    std::mt19937_64 noise(seed * 104729 + 3);  // apart, so both layouts read the same lines
    auto fill = [&](std::vector<Example>& split, int64_t n) {
        for (int64_t i = 0; i < n; ++i) {
            Example e;
            e.target = tok.encode(world.corpusLine(rng, mix));
            if (encDec) {
                e.ids = infillNoise(e.target, WordTokenizer::kUnk, noise);
                e.ids.push_back(WordTokenizer::kEos);
            } else {
                e.ids = {WordTokenizer::kBos};
            }
            split.push_back(std::move(e));
        }
    };
    fill(ds.train, lines);
    fill(ds.dev, 1000);

    TrainConfig tc;
    tc.steps = a.getInt("steps").value_or(3000);
    tc.batch_size = a.getInt("batch-size").value_or(32);
    tc.lr = a.getDouble("lr").value_or(2e-3);
    tc.schedule = Schedule::Cosine;
    tc.warmup_ratio = 0.03;
    tc.eval_every = std::max<int64_t>(1, tc.steps / 6);
    tc.decode_eval = false;
    tc.seed = seed;
    tc.threads = static_cast<int>(a.getInt("threads").value_or(0));
    tc.device = a.get("device").value_or("cpu");
    tc.pad_id = WordTokenizer::kPad;
    tc.eos_id = WordTokenizer::kEos;
    tc.max_length = cfg.max_positions;

    Transformer model = makeRandomBackbone(cfg, seed);
    Spec full = resolvePreset(presetById("full"), cfg);
    model->applySpec(full);
    err << "pretraining " << backboneParamCount(cfg) << " parameters (vocabulary " << cfg.vocab_size
        << ") on " << lines << " lines for " << tc.steps << " steps\n";
    CliObserver obs(err, nullptr, a.flag("quiet"), ds.metric);
    Trainer trainer(model, ds, tc);
    const TrainResult r = trainer.run(&obs);
    obs.finish();
    if (r.status != RunStatus::Finished)
        throw Error("pretrain", std::string(toString(r.status)) + ": " + r.message);
    model->to(torch::kCPU);  // the probes and the saved folder are on the CPU, wherever it trained
    loadTrainableInto(model, r.best_state, "the best evaluation's state");
    // The probes read a causal language model's next words; an encoder–decoder reports its perplexity.
    const double verdict = encDec ? 0.0 : verdictAccuracy(model, world, tok, 1000, seed);
    const LookupScore lookup = encDec ? LookupScore{} : lookupAccuracy(model, world, tok, 1000, seed);
    const double copy = encDec ? 0.0 : copyAccuracy(model, world, tok, 1000, seed);
    auto probe = [encDec](double v) { return encDec ? json(nullptr) : json(v); };

    // Every setting that shapes the result, so the recorded command rebuilds this backbone.
    std::string command = "peftwb pretrain --out " + *dir + " --seed " + std::to_string(seed) + " --steps " +
                          std::to_string(tc.steps) + " --lines " + std::to_string(lines);
    for (const char* option : {"d", "layers", "heads", "batch-size", "lr", "decoder-layers"})
        if (const auto value = a.get(option)) command += std::string(" --") + option + " " + *value;
    command += " --corpus " + corpus;
    if (encDec) command += " --layout encoder-decoder";
    if (const auto device = a.get("device")) command += " --device " + *device;
    command += " --threads " + std::to_string(currentThreadCount());
    const std::string objective = encDec ? "denoising: text infilling (30 % of each line's tokens in "
                                           "Poisson(3) spans, each span one <unk>) → the line"
                                         : "causal language model on the corpus lines";
    const json info = {{"tokenizer", "world-words"},
                       {"world_seed", seed},
                       {"command", command},
                       {"objective", objective},
                       {"dev_perplexity", r.best_dev_metric},
                       {"steps", tc.steps},
                       {"seconds", r.seconds},
                       {"verdict_accuracy", probe(verdict)},
                       {"lookup_accuracy", probe(lookup.bound)},
                       {"copy_accuracy", probe(copy)},
                       {"torch", torchVersion()}};
    saveBackbone(*dir, model, tok.tokens(), info);
    json j = {{"out", *dir},
              {"layout", layout},
              {"objective", objective},
              {"parameters", backboneParamCount(cfg)},
              {"dev_perplexity", r.best_dev_metric},
              {"best_step", r.best_step},
              {"verdict_accuracy", probe(verdict)},
              {"lookup_accuracy", probe(lookup.bound)},
              {"copy_accuracy", probe(copy)},
              {"seconds", r.seconds}};
    if (a.flag("json")) {
        out << j.dump() << "\n";
    } else {
        out << "wrote " << *dir << ": held-out perplexity " << r.best_dev_metric << " after " << r.best_step
            << " steps (" << r.seconds << " s)";
        if (encDec)
            out << " of " << objective << "\n";
        else
            out << "; verdict accuracy " << verdict << ", lookup accuracy " << lookup.bound
                << ", copy accuracy " << copy << "\n";
    }
    return 0;
}

// ----- score ------------------------------------------------------------------------------------------

namespace {

std::vector<std::string> readLines(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path, "cannot open");
    std::vector<std::string> lines;
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        lines.push_back(line);
    }
    return lines;
}

}  // namespace

int cmdScore(const Args& a, std::ostream& out, std::ostream&) {
    const std::string metric = a.get("metric").value_or("");
    const auto hypPath = a.get("hyp");
    const auto refPaths = a.all("ref");
    if (metric.empty()) throw Error("--metric", "missing: bleu, rouge or accuracy");
    if (!hypPath) throw Error("--hyp", "missing: a file with one output per line");
    if (refPaths.empty())
        throw Error("--ref", "missing: a file with one reference per line (repeat for more)");
    const auto hyps = readLines(*hypPath);
    std::vector<std::vector<std::string>> refs;
    for (const auto& p : refPaths) {
        refs.push_back(readLines(p));
        if (refs.back().size() != hyps.size())
            throw Error(p, std::to_string(refs.back().size()) + " lines, but " + *hypPath + " has " +
                               std::to_string(hyps.size()));
    }
    json j;
    std::string text;
    if (metric == "bleu") {
        const Bleu b = corpusBleu(hyps, refs);
        j = {{"bleu", b.score}};
        text = b.text();
    } else if (metric == "rouge") {
        const Rouge r = corpusRouge(hyps, refs);
        auto obj = [](const RougeScore& s) {
            return json{{"precision", s.precision}, {"recall", s.recall}, {"fmeasure", s.fmeasure}};
        };
        j = {{"rouge1", obj(r.rouge1)}, {"rouge2", obj(r.rouge2)}, {"rougeL", obj(r.rougeL)}};
        char buf[200];
        std::snprintf(buf, sizeof buf, "ROUGE-1 F %.4f  ROUGE-2 F %.4f  ROUGE-L F %.4f", r.rouge1.fmeasure,
                      r.rouge2.fmeasure, r.rougeL.fmeasure);
        text = buf;
    } else if (metric == "accuracy") {
        if (refs.size() != 1) throw Error("--ref", "accuracy takes one reference file");
        size_t hit = 0;
        for (size_t i = 0; i < hyps.size(); ++i)
            hit += hyps[i] == refs[0][i];
        const double acc = hyps.empty() ? 0.0 : double(hit) / double(hyps.size());
        j = {{"accuracy", acc}};
        text = "accuracy " + std::to_string(acc) + " (" + std::to_string(hit) + "/" +
               std::to_string(hyps.size()) + ")";
    } else {
        throw Error("--metric", "unknown metric '" + metric + "' (expected bleu, rouge or accuracy)");
    }
    out << (a.flag("json") ? j.dump() : text) << "\n";
    return 0;
}

// ----- bench ------------------------------------------------------------------------------------------

namespace {

struct BenchBackbone {
    std::string name;
    ModelConfig cfg;
    int64_t seq, batch;
    bool gpuOnly;  // benchmarked by default only on a GPU
};

std::vector<BenchBackbone> benchBackbones(int64_t batchOverride) {
    ModelConfig small = defaultModelConfig();
    small.dropout = small.attn_dropout = 0.0;
    ModelConfig big = small;
    big.name = "d512";
    big.d_model = 512;
    big.n_heads = 8;
    big.n_layers = 6;
    big.d_ff = 2048;
    big.vocab_size = 2048;
    big.max_positions = 256;
    // GPT-2's shapes (pre-LN, GELU, tied embeddings, 1024 positions, vocabulary 50257).
    ModelConfig gpt2s = big;
    gpt2s.name = "gpt2-small";
    gpt2s.d_model = 768;
    gpt2s.n_heads = 12;
    gpt2s.n_layers = 12;
    gpt2s.d_ff = 3072;
    gpt2s.vocab_size = 50257;
    gpt2s.max_positions = 1024;
    ModelConfig gpt2m = gpt2s;
    gpt2m.name = "gpt2-medium";
    gpt2m.d_model = 1024;
    gpt2m.n_heads = 16;
    gpt2m.n_layers = 24;
    gpt2m.d_ff = 4096;
    // An encoder–decoder of d512's shape: 6 encoder and 6 decoder layers, post-LN (BART's layout); its
    // steps read the sequence in both stacks, its decoding runs the encoder once with the cache.
    ModelConfig bart = big;
    bart.name = "bart-d512";
    bart.decoder_layers = 6;
    bart.causal = false;
    bart.pre_ln = false;
    bart.position_offset = 2;
    bart.decoder_start_id = 2;
    bart.pad_id = 1;
    auto batch = [&](int64_t b) { return batchOverride > 0 ? batchOverride : b; };
    return {{"small", small, 128, batch(16), false},
            {"d512", big, 128, batch(16), false},
            {"bart-d512", bart, 128, batch(16), true},
            {"gpt2-small", gpt2s, 512, batch(16), true},
            {"gpt2-medium", gpt2m, 512, batch(8), true}};
}

/// The matrix-product peak of `device` in the precision's arithmetic (fp32, tf32: float32 operands; bf16:
/// bfloat16 ones): n = 1024 on CPU, 8192 on a GPU (where a smaller product cannot fill the chip). Reading
/// one element of the result waits for the GPU to finish.
double matmulPeakGflops(const torch::Device& device, Precision precision) {
    torch::NoGradGuard ng;
    PrecisionScope scope(precision == Precision::TF32 ? precision : Precision::FP32, device);
    const int64_t n = device.is_cpu() ? 1024 : 8192;
    const auto opts = torch::TensorOptions().device(device).dtype(
        precision == Precision::BF16 ? torch::kBFloat16 : torch::kFloat);
    const torch::Tensor a = torch::randn({n, n}, opts), b = torch::randn({n, n}, opts);
    torch::Tensor c;
    for (int i = 0; i < 3; ++i)
        c = torch::mm(a, b);
    c[0][0].item<float>();
    double best = 0;
    for (int rep = 0; rep < 5; ++rep) {
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < 4; ++i)
            c = torch::mm(a, b);
        c[0][0].item<float>();
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        best = std::max(best, 4 * 2.0 * double(n) * double(n) * double(n) / s / 1e9);
    }
    return best;
}

/// One row, run in its own process so peak memory is that row's alone.
json benchRow(const BenchBackbone& bb, const std::string& presetId, int64_t steps,
              const torch::Device& device, Precision precision) {
    const Preset& preset = presetById(presetId);
    const Spec spec = resolvePreset(preset, bb.cfg);
    Transformer model = makeRandomBackbone(bb.cfg, 0);
    model->applySpec(spec);
    // Device memory before the model: the CUDA context and anything else this process holds there.
    torch::zeros({1}, torch::TensorOptions().device(device)).sum().item<float>();
    const int64_t memBefore = device.is_cuda() ? cudaMemoryInUse() : 0;
    model->to(device);
    model->train();
    // The step is a language-modelling step: the classification head takes no part, so it is not trained
    // here.
    for (auto& p : model->classifier->parameters())
        p.set_requires_grad(false);
    if (!model->cls_dense.is_empty())
        for (auto& p : model->cls_dense->parameters())
            p.set_requires_grad(false);
    std::vector<torch::Tensor> trainable = model->trainableParameters();
    torch::optim::AdamW opt(trainable, torch::optim::AdamWOptions(1e-4).weight_decay(0.01));
    // As the trainer: TF32 for the whole step, bf16 autocast for the forward and loss only.
    PrecisionScope tf32(precision == Precision::TF32 ? precision : Precision::FP32, device);
    torch::manual_seed(0);
    const auto longs = torch::TensorOptions().dtype(torch::kLong);
    const torch::Tensor ids = torch::randint(0, bb.cfg.vocab_size, {bb.batch, bb.seq}, longs).to(device);
    const torch::Tensor targets = torch::randint(0, bb.cfg.vocab_size, {bb.batch * bb.seq}, longs).to(device);
    auto step = [&] {
        torch::Tensor loss;
        {
            PrecisionScope scope(precision,
                                 device);  // forward and loss; the backward outside, as the trainer
            const torch::Tensor logits = model->forward(ids).lm_logits;
            loss = torch::nn::functional::cross_entropy(
                logits.to(torch::kFloat).reshape({-1, bb.cfg.vocab_size}), targets);
        }
        loss.backward();
        opt.step();
        for (auto& p : trainable)
            p.mutable_grad() = torch::Tensor();    // set_to_none on LibTorch 1.13 and 2.x
        trainable.front()[0].sum().item<float>();  // waits for a GPU's queued work
    };
    for (int i = 0; i < 2; ++i)
        step();  // warm-up: allocations, optimizer state
    std::vector<double> times;
    const double cpu0 = processCpuSeconds();
    for (int64_t i = 0; i < steps; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        step();
        times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    // CPU time of the process (every thread: LibTorch's, OpenMP's, the BLAS library's) per step: more than
    // the wall time × threads used means threads spin instead of working.
    const double cpuPerStep = (processCpuSeconds() - cpu0) / double(steps);
    // The fastest step: on a shared machine other tenants only ever add time, so the minimum is the most
    // repeatable estimate of what the code itself costs (the median is reported alongside).
    std::sort(times.begin(), times.end());
    const double best = times.front(), median = times[times.size() / 2];
    const int64_t optBytes = adamwStateBytes(opt);
    const double flops = trainStepFlops(bb.cfg, spec, bb.batch, bb.seq).total();
    const int64_t trainableBytes = numel(trainable) * 4;
    json row = {{"backbone", bb.name},
                {"d", bb.cfg.d_model},
                {"layers", bb.cfg.n_layers},
                {"heads", bb.cfg.n_heads},
                {"vocab", bb.cfg.vocab_size},
                {"seq", bb.seq},
                {"batch", bb.batch},
                {"preset", presetId},
                {"step_ms", best * 1e3},
                {"step_ms_median", median * 1e3},
                {"cpu_ms_per_step", cpuPerStep * 1e3},
                {"threads", currentThreadCount()},
                {"tokens_per_s", double(bb.batch * bb.seq) / best},
                {"gflops", flops / best / 1e9},
                {"rss_bytes", peakRssBytes()},
                {"trainable_bytes", trainableBytes},
                {"optimizer_bytes", optBytes},
                {"trained_pct", countParams(spec, bb.cfg).trainedPct()}};
    // The caching allocator keeps what it once reserved, so at the end this is the row's peak reservation.
    if (device.is_cuda()) row["gpu_bytes"] = cudaMemoryInUse() - memBefore;
    return row;
}

/// Decoding speed of a backbone (random weights, no spec but the identity): greedy and beam-4 over a
/// 32-token prompt (an encoder–decoder's source) for 64 new tokens (no early end), with the cache and
/// re-reading every step (an encoder–decoder: re-running its encoder too).
json benchDecoding(const BenchBackbone& bb, const torch::Device& device, Precision precision) {
    Transformer model = makeRandomBackbone(bb.cfg, 0);
    model->applySpec(resolvePreset(presetById("full"), bb.cfg));
    model->to(device);
    model->eval();
    PrecisionScope scope(precision, device);
    std::vector<int64_t> prompt;
    std::mt19937_64 rng(1);
    for (int i = 0; i < 32; ++i)
        prompt.push_back(1 + int64_t(rng() % uint64_t(bb.cfg.vocab_size - 1)));
    json rows = json::array();
    for (int beam : {1, 4}) {
        GenerateOptions go;
        go.beam_size = beam;
        go.max_new_tokens = 64;
        go.eos_id = -1;
        json row = {{"backbone", bb.name}, {"beam", beam}, {"prompt", prompt.size()}, {"new_tokens", 64}};
        std::vector<int64_t> outs[2];
        for (bool cache : {true, false}) {
            go.kv_cache = cache;
            generate(model, prompt, go, 0);  // warm-up
            const auto t0 = std::chrono::steady_clock::now();
            outs[cache] = generate(model, prompt, go, 0);
            const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            row[cache ? "tokens_per_s_cache" : "tokens_per_s_no_cache"] = double(outs[cache].size()) / s;
        }
        row["speedup"] = row["tokens_per_s_cache"].get<double>() / row["tokens_per_s_no_cache"].get<double>();
        row["same_tokens"] = outs[0] == outs[1];
        rows.push_back(row);
    }
    return rows;
}

}  // namespace

int cmdBench(const Args& a, std::ostream& out, std::ostream& err) {
    const int threads = static_cast<int>(a.getInt("threads").value_or(defaultThreadCount()));
    applyThreadCount(threads);
    const int64_t steps = std::max<int64_t>(1, a.getInt("steps").value_or(6));
    const auto backbones = benchBackbones(a.getInt("batch").value_or(0));
    const std::string deviceName = a.get("device").value_or("cpu");
    const torch::Device device = parseDevice(deviceName);
    const std::string precisionName = a.get("precision").value_or("fp32");
    const Precision precision = checkPrecision(precisionName, device);
    auto backboneNamed = [&](const std::string& name) -> const BenchBackbone& {
        for (const auto& bb : backbones)
            if (bb.name == name) return bb;
        throw Error("--backbones",
                    "unknown backbone '" + name + "' (small, d512, bart-d512, gpt2-small, gpt2-medium)");
    };
    if (auto row = a.get("row")) {  // child mode: one "backbone:preset" row as JSON
        const auto colon = row->find(':');
        if (colon == std::string::npos) throw Error("--row", "expected BACKBONE:PRESET");
        out << benchRow(backboneNamed(row->substr(0, colon)), row->substr(colon + 1), steps, device,
                        precision)
                   .dump()
            << "\n";
        return 0;
    }
    std::vector<std::string> ids;
    if (auto list = a.get("presets")) {
        std::stringstream ss(*list);
        for (std::string id; std::getline(ss, id, ',');)
            ids.push_back(presetById(id).id);
    } else {
        for (const auto& p : presets())
            ids.push_back(p.id);
    }
    std::vector<std::string> names;
    if (auto list = a.get("backbones")) {
        std::stringstream ss(*list);
        for (std::string n; std::getline(ss, n, ',');)
            names.push_back(backboneNamed(n).name);
    } else {
        for (const auto& bb : backbones)
            if (!bb.gpuOnly || device.is_cuda()) names.push_back(bb.name);
    }

    const double peak = matmulPeakGflops(device, precision);
    json rows = json::array();
    const std::string exe = selfExe();
    for (const auto& name : names) {
        for (const auto& id : ids) {
            std::string cmd = "'" + exe + "' bench --row " + name + ":" + id + " --steps " +
                              std::to_string(steps) + " --threads " + std::to_string(threads);
            if (auto b = a.getInt("batch")) cmd += " --batch " + std::to_string(*b);
            cmd += " --device " + deviceName + " --precision " + precisionName;
            err << "bench: " << name << " " << id << "…" << std::flush;
            FILE* pipe = popen(cmd.c_str(), "r");
            if (!pipe) throw Error("bench", "cannot start " + exe);
            std::string text;
            char buf[4096];
            while (size_t n = fread(buf, 1, sizeof buf, pipe))
                text.append(buf, n);
            const int rc = pclose(pipe);
            if (rc != 0) throw Error("bench", "row " + name + ":" + id + " failed");
            json row = json::parse(text);
            row["peak_fraction"] = row["gflops"].get<double>() / peak;
            err << " " << row["step_ms"].get<double>() << " ms\n";
            rows.push_back(row);
        }
    }
    // Ratios against full fine-tuning of the same backbone, measured in this run.
    for (auto& row : rows)
        for (const auto& ref : rows)
            if (ref["backbone"] == row["backbone"] && ref["preset"] == "full")
                row["step_ratio_vs_full"] = row["step_ms"].get<double>() / ref["step_ms"].get<double>();
    json decoding = json::array();
    if (!a.flag("no-decode"))
        for (const auto& name : names) {
            err << "bench: decoding " << name << "…\n";
            for (auto& r : benchDecoding(backboneNamed(name), device, precision))
                decoding.push_back(r);
        }

    if (a.flag("json")) {
        out << json{{"matmul_peak_gflops", peak}, {"device", deviceName}, {"precision", precisionName},
                    {"threads", threads},         {"rows", rows},         {"decoding", decoding}}
                   .dump(2)
            << "\n";
        return 0;
    }
    char line[400];
    std::snprintf(line, sizeof line, "%s matmul peak on %s (n = %d, %d threads): %.1f GFLOP/s\n\n",
                  precisionName.c_str(), deviceName.c_str(), device.is_cpu() ? 1024 : 8192, threads, peak);
    out << line;
    std::snprintf(line, sizeof line, "%-11s %-18s %9s %11s %10s %8s %6s %8s %9s %9s %12s %12s\n", "model",
                  "preset", "step ms", "CPU ms/step", "tokens/s", "GFLOP/s", "peak", "vs full", "RSS MiB",
                  "GPU MiB", "train bytes", "optim bytes");
    out << line << std::string(134, '-') << "\n";
    for (const auto& r : rows) {
        std::snprintf(
            line, sizeof line,
            "%-11s %-18s %9.1f %11.1f %10.0f %8.1f %5.0f%% %8.3f %9.0f %9s %12lld %12lld\n",
            r["backbone"].get<std::string>().c_str(), r["preset"].get<std::string>().c_str(),
            r["step_ms"].get<double>(), r["cpu_ms_per_step"].get<double>(), r["tokens_per_s"].get<double>(),
            r["gflops"].get<double>(), 100.0 * r["peak_fraction"].get<double>(),
            r.value("step_ratio_vs_full", 0.0), double(r["rss_bytes"].get<int64_t>()) / 1048576.0,
            r.contains("gpu_bytes")
                ? std::to_string(std::llround(double(r["gpu_bytes"].get<int64_t>()) / 1048576.0)).c_str()
                : "-",
            static_cast<long long>(r["trainable_bytes"].get<int64_t>()),
            static_cast<long long>(r["optimizer_bytes"].get<int64_t>()));
        out << line;
    }
    if (!decoding.empty()) {
        out << "\ndecoding (prompt 32, 64 new tokens, one sequence):\n";
        std::snprintf(line, sizeof line, "%-11s %5s %16s %18s %8s %6s\n", "model", "beam", "tokens/s cache",
                      "tokens/s no cache", "speedup", "same");
        out << line << std::string(70, '-') << "\n";
        for (const auto& r : decoding) {
            std::snprintf(line, sizeof line, "%-11s %5d %16.1f %18.1f %7.1fx %6s\n",
                          r["backbone"].get<std::string>().c_str(), r["beam"].get<int>(),
                          r["tokens_per_s_cache"].get<double>(), r["tokens_per_s_no_cache"].get<double>(),
                          r["speedup"].get<double>(), r["same_tokens"].get<bool>() ? "yes" : "NO");
            out << line;
        }
    }
    return 0;
}

int cmdData(const Args& a, std::ostream& out, std::ostream&) {
    const auto file = a.get("data");
    if (!file) throw Error("--data", "missing: the file to inspect");
    FileDatasetSpec spec = fileSpecFromArgs(a);
    if (spec.dev.empty() && !a.get("dev-fraction")) spec.dev_fraction = 0;  // show the whole file
    const auto t0 = std::chrono::steady_clock::now();
    const FileData d = readFileData(spec);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    json j = {{"kind", d.spec.kind},
              {"format", toString(tableFormatOf(*file))},
              {"train_rows", d.seq2seq ? d.strain.size() : d.train.size()},
              {"dev_rows", d.seq2seq ? d.sdev.size() : d.dev.size()},
              {"skipped", d.skipped},
              {"skipped_messages", d.skipped_messages},
              {"seconds", seconds}};
    if (!d.seq2seq) {
        std::map<std::string, int64_t> counts;
        for (const auto& r : d.train)
            ++counts[r.label];
        j["columns"] = {
            {"text", d.spec.columns.text}, {"pair", d.spec.columns.pair}, {"label", d.spec.columns.label}};
        j["labels"] = d.labels;
        j["label_counts"] = counts;
    }
    std::string warning;
    if (a.get("model")) {
        const BackboneRef ref = backboneRefFromArgs(a);
        const VocabularyCoverage c = dataCoverage(*openFolderTokenizer(backboneRefDir(ref, "--model")), d);
        const std::string name = backboneRefConfig(ref, "--model").name;
        warning = coverageWarning(c, name);
        j["coverage"] = {{"backbone", name},
                         {"texts", c.texts},
                         {"tokens", c.tokens},
                         {"unknown", c.unknown},
                         {"unknown_share", c.unknownShare()},
                         {"warning", warning}};
    }
    if (a.flag("json")) {
        out << j.dump(2) << "\n";
        return 0;
    }
    out << *file << ": " << j["format"].get<std::string>() << ", " << d.spec.kind << ", " << j["train_rows"]
        << " rows";
    if (!spec.dev.empty()) out << " (dev " << j["dev_rows"] << ")";
    out << ", read in " << seconds << " s\n";
    if (!d.seq2seq) {
        out << "columns: text '" << d.spec.columns.text << "'"
            << (d.spec.columns.pair.empty() ? "" : ", second text '" + d.spec.columns.pair + "'")
            << ", label '" << d.spec.columns.label << "'\nlabels:";
        for (const auto& l : d.labels)
            out << " " << l << " (" << j["label_counts"][l].get<int64_t>() << ")";
        out << "\n";
    }
    if (d.skipped) {
        out << "skipped " << d.skipped << " bad rows:\n";
        for (const auto& m : d.skipped_messages)
            out << "  " << m << "\n";
    }
    if (j.contains("coverage")) {
        const json& c = j["coverage"];
        out << "vocabulary: " << c["unknown"].get<int64_t>() << " of " << c["tokens"].get<int64_t>()
            << " tokens are <unk> for " << c["backbone"].get<std::string>() << "'s tokenizer ("
            << static_cast<int>(std::lround(1000 * c["unknown_share"].get<double>())) / 10.0 << " %, first "
            << c["texts"].get<int64_t>() << " texts)\n";
        if (!warning.empty()) out << "warning: " << warning << "\n";
    }
    return 0;
}

}  // namespace peft
