// SPDX-License-Identifier: GPL-3.0-or-later
// peftwb project: create, inspect and export experiment projects; resume interrupted runs.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <torch/cuda.h>
#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/text_table.h"

#include <sys/wait.h>
#include <unistd.h>

#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "data/file_data.h"
#include "data/table.h"
#include "data/world.h"
#include "model/config.h"
#include "peft/presets.h"
#include "project/project.h"
#include "project/run_record.h"
#include "run/executor.h"
#include "train/device_placement.h"
#include "util/error.h"
#include "util/system.h"
#include "util/torch_runtime.h"

namespace peft {

namespace fs = std::filesystem;

namespace {

using json = nlohmann::json;

int64_t requiredRun(const Args& a) {
    const auto id = a.getInt("run");
    if (!id) throw Error("--run", "missing: the run id (see 'peftwb project runs FILE')");
    return *id;
}

/// A run as listings print it; "record" is the complete run record (spec, every training setting, data,
/// backbone, adapter), or "record_error" when the stored one cannot be read.
json runJson(const Project& p, const RunRecord& r) {
    json j = {
        {"id", r.id},
        {"name", r.name},
        {"preset", r.preset},
        {"spec", r.spec.contains("name") && r.spec["name"].is_string() ? r.spec["name"] : json(r.preset)},
        {"status", toString(r.state)},
        {"message", r.message},
        {"steps_done", r.steps_done},
        {"steps_total", r.steps_total},
        {"seed", r.seed},
        {"device", r.device},
        {"created", r.created},
        {"notes", r.notes}};
    if (r.summary) {
        j["metric_name"] = r.summary->metric_name;
        j["best_metric"] = r.summary->best_dev_metric;
        j["best_step"] = r.summary->best_step;
        j["seconds"] = r.summary->seconds;
        j["trained_params"] = r.summary->trained_params;
    } else {
        j["best_metric"] = nullptr;
    }
    try {
        j["record"] = runRecipeToJson(runRecipe(p, r));
    } catch (const Error& e) {
        j["record_error"] = e.what();
    }
    return j;
}

/// --events: how a run trained for another process (the workbench's parallel queue) talks to it. Each line on
/// stdout is one JSON object — {"progress": [step, total, steps_per_s, eta_s]} (at most 25 a second),
/// {"metric": [step, wall_s, split, name, value]}, {"status": [status, message]} — and each line read on
/// stdin is a command for the run in progress: "pause", "resume" or "cancel" (a cancelled run keeps its last
/// checkpoint, resumable). The end of stdin changes nothing: the run goes on.
class RunEvents : public TrainObserver {
public:
    explicit RunEvents(std::ostream& out) : out_(out), control_(std::make_shared<Control>()) {
        // Detached: it may sit in a read until the process ends; it shares only `control_` with the run.
        std::thread([c = control_] {
            for (std::string line; std::getline(std::cin, line);) {
                std::lock_guard<std::mutex> lock(c->mutex);
                if (line == "pause" || line == "resume") {
                    c->paused = line == "pause";
                    if (c->trainer) line == "pause" ? c->trainer->pause() : c->trainer->resume();
                } else if (line == "cancel") {
                    c->cancelled = true;
                    if (c->trainer) c->trainer->cancel();
                }
            }
        }).detach();
    }
    void attach(ExecuteOptions& o) {
        o.observer = this;
        o.onTrainer = [c = control_](Trainer* t) {
            std::lock_guard<std::mutex> lock(c->mutex);
            c->trainer = t;
            if (t && c->cancelled) t->cancel();  // asked for before the trainer existed (loading)
            if (t && c->paused) t->pause();
        };
    }

    void onProgress(int64_t step, int64_t total, double rate, double eta) override {
        const auto now = std::chrono::steady_clock::now();
        if (step != total && now - last_ < std::chrono::milliseconds(40)) return;
        last_ = now;
        line({{"progress", {step, total, finite(rate), finite(eta)}}});
    }
    void onMetric(const MetricPoint& p) override {
        line({{"metric", {p.step, p.wall_time, p.split, p.name, finite(p.value)}}});
    }
    void onStatus(RunStatus s, const std::string& message) override {
        line({{"status", {toString(s), message}}});
    }

private:
    struct Control {
        std::mutex mutex;
        Trainer* trainer = nullptr;
        bool paused = false, cancelled = false;
    };
    static json finite(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }
    void line(const json& j) { out_ << j.dump(-1, ' ', false, json::error_handler_t::replace) << std::endl; }

    std::ostream& out_;
    std::shared_ptr<Control> control_;
    std::chrono::steady_clock::time_point last_{};
};

}  // namespace

std::string number(double v) {
    if (!std::isfinite(v)) return std::isnan(v) ? "NaN" : (v > 0 ? "Infinity" : "-Infinity");
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    return buf;
}

std::string selfExe() {
    char buf[4096];
    const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string("peftwb");
}

RunPlacement placementFromArgs(const Args& a) {
    RunPlacement p;
    p.device = a.get("device");
    p.gpus = a.get("gpus").value_or("all");
    const int64_t per = a.getInt("runs-per-gpu").value_or(1);
    if (per < 1 || per > 64) throw Error("--runs-per-gpu", "expected 1 to 64 runs on each GPU at once");
    p.per_gpu = int(per);
    return p;
}

int runProjectRuns(const std::string& file, const std::vector<QueuedRun>& runs, int64_t parallel,
                   std::optional<int64_t> threads, std::ostream& out, bool events,
                   const RunPlacement& placement) {
    if (parallel < 1 || parallel > 256) throw Error("--parallel", "expected 1 to 256 runs at once");
    if (events && parallel > 1) throw Error("--events", "reports one run at a time (without --parallel)");
    if (placement.device && parallel > 1)
        throw Error("--device",
                    "runs side by side are placed on the GPUs of --gpus; --device is for one run");
    int rc = 0;
    if (parallel == 1) {  // in this process, one after another
        ExecuteOptions opts;
        opts.threads = threads;
        opts.device = placement.device;
        std::optional<RunEvents> stream;
        if (events) stream.emplace(out).attach(opts);
        for (const QueuedRun& q : runs) {
            opts.resume = q.resume;
            const TrainResult r = executeRun(file, q.run, opts);
            out << "run " << q.run << ": " << toString(r.status) << ", best dev " << r.metric_name << " "
                << number(r.best_dev_metric) << " at step " << r.best_step << " (" << number(r.seconds)
                << " s)" << std::endl;
            if (r.status != RunStatus::Finished) rc = 1;
        }
        return rc;
    }
    // Several at once, each in a process of its own (its own random generators and thread pools, so a
    // run's curve does not depend on what runs beside it), with an equal share of the threads; runs that
    // ask for a GPU ("cuda") each get one of the GPUs in use, at most --runs-per-gpu on each.
    DevicePlacer placer(parseGpuList(placement.gpus, int(torch::cuda::device_count())), placement.per_gpu);
    std::map<int64_t, std::string> asked;  // run → the device its record asks for
    {
        auto p = Project::open(file, Project::Mode::ReadOnly);
        for (const QueuedRun& q : runs)
            asked[q.run] = p->run(q.run).device;
    }
    const int64_t total = threads.value_or(0) > 0 ? *threads : defaultThreadCount();
    const std::string each = std::to_string(std::max<int64_t>(1, total / parallel));
    const std::string exe = selfExe();
    std::map<pid_t, std::pair<int64_t, std::string>> running;  // pid → (run, device)
    std::vector<QueuedRun> waiting(runs.begin(), runs.end());
    while (!waiting.empty() || !running.empty()) {
        // In order, the first runs whose device has room (a CPU run need not wait behind full GPUs).
        for (auto it = waiting.begin(); it != waiting.end() && int64_t(running.size()) < parallel;) {
            const std::optional<std::string> device = placer.place(asked[it->run]);
            if (!device) {
                ++it;
                continue;
            }
            const std::string id = std::to_string(it->run);
            out << "run " << id << " on " << *device << std::endl;
            const pid_t pid = spawnChild({exe, "project", it->resume ? "resume" : "run", file, "--run", id,
                                          "--threads", each, "--device", *device});
            if (pid < 0) throw Error("--parallel", "cannot start " + exe);
            running[pid] = {it->run, *device};
            it = waiting.erase(it);
        }
        int status = 0;
        const pid_t done = waitpid(-1, &status, 0);
        if (done < 0) break;
        auto r = running.find(done);
        if (r == running.end()) continue;
        placer.release(r->second.second);
        running.erase(r);
        if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) rc = 1;
    }
    return rc;
}

int cmdProject(const Args& a, std::ostream& out, std::ostream& err) {
    const auto& pos = a.positional();
    if (!pos.empty() && pos[0] == "merge") return projectMerge(a, out, err);
    if (pos.size() != 2)
        throw Error("project",
                    "expected 'peftwb project SUBCOMMAND FILE' (new, info, runs, metrics, export-csv, "
                    "resume, notes, merge)");
    const std::string& sub = pos[0];
    const std::string& file = pos[1];

    if (sub == "new") {
        const BackboneRef backbone = backboneRefFromArgs(a);
        auto p = Project::create(file, backboneRefToJson(backbone));
        out << "created " << file << " (project schema " << p->schemaVersion() << ")\n";
        return 0;
    }
    if (sub == "bench") {
        // Metric throughput: N points in one transaction, then the same in batches of 1000 (as a recorder
        // flushing once a second at 1000 points per second would write them).
        const int64_t n = a.getInt("points").value_or(100000);
        auto p = Project::create(file, {{"id", "default"}});
        RunRecord r;
        r.name = "bench";
        r.spec = json::object();
        r.train_config = json::object();
        const int64_t id = p->addRun(r);
        std::vector<MetricPoint> pts;
        for (int64_t i = 0; i < n; ++i)
            pts.push_back({i, "train", "loss", 1.0 / double(i + 1), 0.01 * double(i)});
        using Clock = std::chrono::steady_clock;
        auto t0 = Clock::now();
        p->appendMetrics(id, pts);
        const double one = std::chrono::duration<double>(Clock::now() - t0).count();
        t0 = Clock::now();
        for (int64_t i = 0; i < n; i += 1000)
            p->appendMetrics(id,
                             std::vector<MetricPoint>(pts.begin() + i, pts.begin() + std::min(n, i + 1000)));
        const double batched = std::chrono::duration<double>(Clock::now() - t0).count();
        t0 = Clock::now();
        const auto back = p->metrics(id);
        const double read = std::chrono::duration<double>(Clock::now() - t0).count();
        json j = {{"points", n},
                  {"one_transaction_s", one},
                  {"batches_of_1000_s", batched},
                  {"read_all_s", read},
                  {"rows_read", back.size()}};
        if (a.flag("json"))
            out << j.dump() << "\n";
        else
            out << n << " metric points: " << one << " s in one transaction, " << batched
                << " s in batches of 1000; reading all " << back.size() << " rows back: " << read << " s\n";
        return 0;
    }
    if (sub == "import") {
        auto p = Project::open(file);
        const int64_t id = addFileDataset(*p, fileSpecFromArgs(a));
        const DatasetRecord d = p->dataset(id);
        out << "imported dataset " << id << ": " << d.name << " (" << d.mapping["train_examples"]
            << " training rows, " << d.mapping["dev_examples"] << " dev rows, "
            << (d.labels.empty() ? std::string("sequence to sequence")
                                 : std::to_string(d.labels.size()) + " labels")
            << (d.mapping.value("skipped_rows", 0)
                    ? ", " + d.mapping["skipped_rows"].dump() + " bad rows skipped"
                    : "")
            << ")\n";
        return 0;
    }
    if (sub == "queue") {
        // Queue presets on a built-in task or an imported dataset: --preset a,b,… (or "all") [--steps N].
        auto p = Project::open(file);
        const std::string task = a.get("task").value_or("sentiment");
        const auto dataset = a.getInt("dataset");
        if (dataset && a.get("task")) throw Error("--dataset", "give --task or --dataset, not both");
        if (!dataset) builtinTaskLabels(task);  // a clear error for an unknown task
        const uint64_t seed = uint64_t(a.getInt("seed").value_or(0));
        const std::string datasetName = dataset ? p->dataset(*dataset).name : std::string();
        const BackboneRef backbone = backboneRefFromJson(p->backbone(), file + ": backbone");
        const ModelConfig cfg = backboneRefConfig(backbone, file);
        DataRef data;
        if (dataset)
            data = datasetDataRef(*p, *dataset);
        else
            data.task = task;
        std::vector<std::string> ids;
        const std::string list = a.get("preset").value_or("all");
        if (list == "all") {
            for (const auto& pr : presets())
                ids.push_back(pr.id);
        } else {
            std::stringstream ss(list);
            for (std::string id; std::getline(ss, id, ',');)
                ids.push_back(id);
        }
        if (const auto adapter = a.get("adapter")) {  // one run that starts from an adapter folder
            TrainConfig tc = presetTrainConfig("", a.getInt("steps").value_or(600), seed);
            tc.lr = a.getDouble("lr").value_or(1e-3);
            const int64_t run = queueAdapterRun(*p, "", *adapter, data, tc);
            out << "queued run " << run << ": " << p->run(run).name << " on "
                << (dataset ? datasetName : task) << "\n";
            return 0;
        }
        for (const auto& id : ids) {
            const Preset& pr = presetById(id);
            RunRecipe recipe;
            recipe.spec = resolvePreset(pr, cfg);
            recipe.train = presetTrainConfig(pr.id, a.getInt("steps").value_or(600), seed);
            if (auto lr = a.getDouble("lr")) recipe.train.lr = *lr;
            recipe.data = data;
            recipe.backbone = backbone;
            const std::string on = dataset ? datasetName : task;
            const int64_t run = addRun(*p, pr.name + " on " + on, pr.id, recipe);
            out << "queued run " << run << ": " << pr.id << " on " << on << "\n";
        }
        return 0;
    }
    if (sub == "run") {
        // Runs the given queued run, or every queued run in order (--parallel N: N at a time).
        std::vector<QueuedRun> ids;
        if (auto id = a.getInt("run")) {
            ids.push_back({*id, false});
        } else {
            for (const auto& r : Project::open(file, Project::Mode::ReadOnly)->runs())
                if (r.state == RunState::Queued) ids.push_back({r.id, false});
        }
        return runProjectRuns(file, ids, a.getInt("parallel").value_or(1), a.getInt("threads"), out,
                              a.flag("events"), placementFromArgs(a));
    }
    if (sub == "compact") {
        // Gives the space of deleted runs back; --drop-checkpoints first deletes every checkpoint (metrics
        // and summaries stay): a project to ship or archive.
        auto p = Project::open(file);
        if (a.flag("drop-checkpoints")) out << "deleted " << p->dropCheckpoints() << " checkpoints\n";
        const auto before = fs::file_size(file);
        p->compact();
        out << "compacted " << file << ": " << before << " → " << fs::file_size(file) << " bytes\n";
        return 0;
    }
    if (sub == "resume") {
        // Any run resumes from its own record, wherever it was created (train --project, queue, the GUI).
        const int64_t id = requiredRun(a);
        {
            auto p = Project::open(file);
            for (const auto& m : p->openMessages())
                err << file << ": " << m << "\n";
            p->run(id);  // a clear error for an unknown run
        }                // closed before training reopens it
        ExecuteOptions opts;
        opts.resume = true;
        opts.threads = a.getInt("threads");
        opts.device = a.get("device");
        std::optional<RunEvents> stream;
        if (a.flag("events")) stream.emplace(out).attach(opts);
        const TrainResult tr = executeRun(file, id, opts);
        out << "run " << id << ": " << toString(tr.status) << ", best dev " << tr.metric_name << " "
            << number(tr.best_dev_metric) << "\n";
        return tr.status == RunStatus::Finished ? 0 : 1;
    }

    const bool writes = sub == "notes";
    auto p = Project::open(file, writes ? Project::Mode::ReadWrite : Project::Mode::ReadOnly);
    if (sub == "info") {
        const auto runs = p->runs();
        json j = {{"path", file},
                  {"schema_version", p->schemaVersion()},
                  {"created", p->meta("created").value_or("")},
                  {"app_version", p->meta("app_version").value_or("")},
                  {"backbone", p->backbone()},
                  {"runs", runs.size()},
                  {"datasets", p->datasets().size()}};
        std::map<std::string, int> byStatus;
        for (const auto& r : runs)
            ++byStatus[toString(r.state)];
        j["status_counts"] = byStatus;
        if (a.flag("json")) {
            out << j.dump() << "\n";
        } else {
            out << file << ": project schema " << j["schema_version"] << ", created "
                << j["created"].get<std::string>() << " by PEFT Workbench "
                << j["app_version"].get<std::string>() << "\n"
                << "backbone: " << j["backbone"].dump() << "\n"
                << runs.size() << " runs";
            for (const auto& [s, n] : byStatus)
                out << ", " << n << " " << s;
            out << "; " << j["datasets"] << " datasets\n";
        }
        return 0;
    }
    if (sub == "show") {  // one run with its complete record
        const RunRecord r = p->run(requiredRun(a));
        const json j = runJson(*p, r);
        if (a.flag("json")) {
            out << j.dump() << "\n";
            return 0;
        }
        out << "run " << r.id << ": " << r.name << " (" << toString(r.state) << ", " << r.steps_done << "/"
            << r.steps_total << " steps)\n"
            << (j.contains("record") ? j["record"].dump(2) : j["record_error"].get<std::string>()) << "\n";
        return 0;
    }
    if (sub == "runs") {
        json all = json::array();
        for (const auto& r : p->runs())
            all.push_back(runJson(*p, r));
        if (a.flag("json")) {
            out << all.dump() << "\n";
            return 0;
        }
        TextTable table(
            {{"id", true}, {"name", false, 48}, {"preset"}, {"status"}, {"steps", true}, {"best dev"}});
        for (const auto& j : all)
            table.add({std::to_string(j["id"].get<int64_t>()), j["name"].get<std::string>(),
                       j["preset"].get<std::string>(), j["status"].get<std::string>(),
                       std::to_string(j["steps_done"].get<int64_t>()) + "/" +
                           std::to_string(j["steps_total"].get<int64_t>()),
                       j["best_metric"].is_null() ? "-"
                                                  : j["metric_name"].get<std::string>() + " " +
                                                        number(j["best_metric"].get<double>())});
        table.print(out);
        return 0;
    }
    if (sub == "metrics") {
        const int64_t id = requiredRun(a);
        p->run(id);  // a clear error for an unknown run
        const auto rows = p->metrics(id, a.get("name").value_or(""));
        for (const auto& m : rows) {
            if (a.flag("json")) {
                json j = {{"step", m.step}, {"wall_time", m.wall_time}, {"split", m.split}, {"name", m.name}};
                j["value"] = std::isfinite(m.value) ? json(m.value) : json(nullptr);
                out << j.dump() << "\n";
            } else {
                out << m.step << "\t" << m.split << "\t" << m.name << "\t" << number(m.value) << "\n";
            }
        }
        return 0;
    }
    if (sub == "export-csv") {
        const int64_t id = requiredRun(a);
        const RunRecord r = p->run(id);
        std::ofstream file_;
        std::ostream* o = &out;
        if (auto path = a.get("out")) {
            file_.open(*path);
            if (!file_) throw Error("--out", "cannot write " + *path);
            o = &file_;
        }
        *o << "run,name,step,wall_time,split,metric,value\n";
        for (const auto& m : p->metrics(id))
            *o << id << "," << csvField(r.name) << "," << m.step << "," << number(m.wall_time) << ","
               << m.split << "," << m.name << "," << number(m.value) << "\n";
        if (file_.is_open()) {
            if (!file_) throw Error("--out", "write failed");
            err << "wrote " << *a.get("out") << "\n";
        }
        return 0;
    }
    if (sub == "notes") {
        const int64_t id = requiredRun(a);
        const auto text = a.get("text");
        if (!text) throw Error("--text", "missing: the run's notes");
        p->setNotes(id, *text);
        return 0;
    }
    throw Error(sub,
                "unknown project subcommand (new, info, runs, show, metrics, export-csv, queue, run, resume, "
                "notes, bench)");
}

int cmdExport(const Args& a, std::ostream& out, std::ostream&) {
    const auto file = a.get("project");
    if (!file) throw Error("--project", "missing: the project holding the run");
    const auto runId = a.getInt("run");
    if (!runId) throw Error("--run", "missing: the id of the run to export (see 'peftwb project runs')");
    const auto dir = a.get("out");
    if (!dir) throw Error("--out", "missing: the adapter folder to write");
    const std::string format = a.get("format").value_or("hf-peft");
    const json info = exportRunAdapter(*file, *runId, format, *dir);
    if (a.flag("json")) {
        out << info.dump(2) << "\n";
        return 0;
    }
    out << "exported run " << *runId << " (" << info["spec"].get<std::string>() << ", "
        << info["weights"].get<std::string>() << ") to " << *dir << " as "
        << (info["format"] == "hf-peft"
                ? "a Hugging Face PEFT " + info["peft_type"].get<std::string>() + " adapter"
                : std::string("a native adapter"))
        << (info["has_head"].get<bool>() ? " with its classification head" : "") << "\n";
    return 0;
}

}  // namespace peft
