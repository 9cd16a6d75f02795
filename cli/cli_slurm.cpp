// SPDX-License-Identifier: GPL-3.0-or-later
// peftwb slurm: a project's runs as one Slurm job array (submit), what each array task runs (task), where
// they stand (status); and peftwb project merge, which brings the tasks' shards home.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/text_table.h"
#include "project/project.h"
#include "run/executor.h"
#include "slurm/slurm.h"
#include "util/error.h"

namespace peft {

using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::vector<int64_t> runIds(const std::string& text) {
    std::vector<int64_t> ids;
    size_t start = 0;
    while (start <= text.size()) {
        const size_t end = std::min(text.find(',', start), text.size());
        const std::string part = text.substr(start, end - start);
        const auto dash = part.find('-', 1);
        try {
            size_t used = 0;
            const int64_t a = std::stoll(part.substr(0, dash), &used);
            if (used != part.substr(0, dash).size()) throw std::invalid_argument(part);
            int64_t b = a;
            if (dash != std::string::npos) b = std::stoll(part.substr(dash + 1), &used);
            if (b < a || b - a > 100000) throw std::invalid_argument(part);
            for (int64_t i = a; i <= b; ++i)
                ids.push_back(i);
        } catch (const std::exception&) {
            throw Error("--runs", "'" + part + "' is not a run id or a range (3,5,7-9)");
        }
        start = end + 1;
    }
    return ids;
}

SlurmOptions slurmOptionsFromArgs(const Args& a) {
    SlurmOptions o;
    o.partition = a.get("partition").value_or("");
    o.gpus_per_task = a.getInt("gpus-per-task").value_or(0);
    o.cpus_per_task = a.getInt("cpus-per-task").value_or(0);
    o.time = a.get("time").value_or("");
    o.mem = a.get("mem").value_or("");
    o.max_parallel = a.getInt("max-parallel").value_or(0);
    o.runs_per_task = a.getInt("runs-per-task").value_or(1);
    o.extra = a.all("extra");
    o.program = selfExe();
    if (const char* s = std::getenv("PEFTWB_SBATCH")) o.sbatch = s;  // another sbatch (a wrapper, a test)
    return o;
}

/// SIGTERM / SIGINT → interrupt the trainer (checkpoint, then stop). The handler only sets a flag; a thread
/// passes it on (a trainer cannot be touched from a signal handler).
std::atomic<int> gSignal{0};
extern "C" void onStopSignal(int sig) {
    gSignal = sig;
}

/// A task's log: where it trains, each evaluation, how it ended (stdout is the log Slurm keeps).
class TaskLog : public TrainObserver {
public:
    explicit TaskLog(std::ostream& out) : out_(out) {}
    void onProgress(int64_t step, int64_t total, double rate, double) override {
        if (total <= 0 || step * 10 / total == lastTenth_) return;
        lastTenth_ = step * 10 / total;
        out_ << "  step " << step << "/" << total << " (" << number(rate) << " steps/s)" << std::endl;
    }
    void onMetric(const MetricPoint& p) override {
        if (p.split == "dev")
            out_ << "  step " << p.step << ": dev " << p.name << " " << number(p.value) << std::endl;
    }
    void onStatus(RunStatus s, const std::string& message) override {
        out_ << "  " << toString(s) << (message.empty() ? "" : ": " + message) << std::endl;
    }
    void onResumed(int64_t step) override { out_ << "  resumed after step " << step << std::endl; }

private:
    std::ostream& out_;
    int64_t lastTenth_ = -1;
};

int slurmTask(const Args& a, std::ostream& out, std::ostream& err) {
    const auto dir = a.get("shards");
    if (!dir) throw Error("--shards", "the submission's folder is required");
    std::optional<int64_t> index = a.getInt("index");
    if (!index) {
        const char* t = std::getenv("SLURM_ARRAY_TASK_ID");
        if (!t)
            throw Error("--index", "give --index N, or run inside a Slurm array task (SLURM_ARRAY_TASK_ID)");
        try {
            index = std::stoll(t);
        } catch (const std::exception&) {
            throw Error("SLURM_ARRAY_TASK_ID", std::string("'") + t + "' is not a task index");
        }
    }
    const std::string shard = (fs::path(*dir) / ("task-" + std::to_string(*index) + ".peftproj")).string();
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    const char* job = std::getenv("SLURM_JOB_ID");
    const char* restarts = std::getenv("SLURM_RESTART_COUNT");
    out << "peftwb slurm task " << *index << " on " << host << (job ? std::string(", job ") + job : "")
        << (restarts ? std::string(", restart ") + restarts : "") << ": " << shard << std::endl;

    struct sigaction sa {};
    sa.sa_handler = onStopSignal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    std::mutex mutex;
    Trainer* trainer = nullptr;
    std::atomic<bool> done{false};
    std::thread watcher([&] {
        bool passed = false;
        while (!done) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            if (gSignal && !passed) {
                std::lock_guard<std::mutex> lock(mutex);
                if (trainer) {
                    trainer->interrupt();
                    passed = true;
                }
            }
        }
    });
    struct Join {
        std::atomic<bool>& done;
        std::thread& t;
        ~Join() {
            done = true;
            t.join();
        }
    } join{done, watcher};

    std::vector<RunRecord> runs;
    {
        auto p = Project::open(shard);
        if (p->readOnly())
            throw Error(shard, "the task cannot write its shard: " + (p->openMessages().empty()
                                                                          ? std::string("read-only")
                                                                          : p->openMessages().front()));
        if (!p->meta("shard")) throw Error(shard, "not a shard (no meta 'shard'): refusing to train into it");
        for (const auto& m : p->openMessages())
            out << "  " << m << std::endl;
        for (RunRecord r : p->runs()) {
            // This task is the shard's only writer: a run it left training or paused was its own, killed.
            if (r.state == RunState::Running || r.state == RunState::Paused) {
                p->setRunState(r.id, RunState::Interrupted, "its task was stopped");
                r = p->run(r.id);
            }
            runs.push_back(r);
        }
        for (const auto& r : runs)
            if (r.state != RunState::Queued && r.state != RunState::Finished &&
                r.state != RunState::Diverged && !r.resumable_step)
                p->requeueRun(r.id);  // nothing to resume from: from step 0
    }                                 // closed before training opens its own connection

    int rc = 0;
    TaskLog log(out);
    for (const RunRecord& r : runs) {
        if (gSignal) break;
        if (r.state == RunState::Finished || r.state == RunState::Diverged) {
            out << "run " << r.id << " (" << r.name << "): " << toString(r.state) << " already" << std::endl;
            continue;
        }
        ExecuteOptions opts;
        opts.observer = &log;
        opts.resume = r.state != RunState::Queued && r.resumable_step.has_value();
        opts.threads = a.getInt("threads");
        opts.onTrainer = [&](Trainer* t) {
            std::lock_guard<std::mutex> lock(mutex);
            trainer = t;
            if (t && gSignal) t->interrupt();  // the signal came while it loaded
        };
        out << "run " << r.id << " (" << r.name << "): "
            << (opts.resume ? "resuming from its checkpoint of step " + std::to_string(*r.resumable_step)
                            : std::string("training from step 0"))
            << std::endl;
        try {
            const TrainResult t = executeRun(shard, r.id, opts);
            out << "run " << r.id << ": " << toString(t.status) << ", best dev " << t.metric_name << " "
                << number(t.best_dev_metric) << " at step " << t.best_step << std::endl;
            if (t.status == RunStatus::Failed) rc = 1;
        } catch (const std::exception& e) {
            err << "run " << r.id << ": " << e.what() << std::endl;
            rc = 1;
        }
    }
    if (gSignal)
        out << "stopped by signal " << gSignal << " (" << strsignal(gSignal)
            << "): the shard holds a checkpoint to resume from when the task is requeued" << std::endl;
    return rc;
}

int slurmSubmit(const Args& a, std::ostream& out, std::ostream& err) {
    const auto file = a.get("project");
    if (!file) throw Error("--project", "the project whose runs go to Slurm is required");
    const auto shards = a.get("shards");
    if (!shards)
        throw Error("--shards", "a folder for the shards is required (on a file system the nodes see)");
    if (a.get("runs") && a.flag("queued")) throw Error("--runs", "give --runs or --queued, not both");
    const SlurmOptions o = slurmOptionsFromArgs(a);
    auto p = Project::open(*file);
    for (const auto& m : p->openMessages())
        err << *file << ": " << m << "\n";
    if (p->readOnly()) throw Error(*file, "the project is read-only: submitting records the job in it");
    const SlurmPlan plan =
        planSlurmSubmission(*p, a.get("runs") ? runIds(*a.get("runs")) : std::vector<int64_t>{}, *shards, o);
    if (a.flag("dry-run")) {
        out << plan.script;
        err << "dry run: nothing written, nothing submitted (" << plan.tasks.size()
            << " array task(s) would go to " << o.sbatch << ")\n";
        return 0;
    }
    const SlurmSubmission s = submitToSlurm(*p, plan, o);
    size_t n = 0;
    for (const auto& t : plan.tasks)
        n += t.size();
    out << "submitted job " << s.job_id << ": " << n << " run(s) as array tasks 0-" << plan.tasks.size() - 1
        << "\n"
        << "  script: " << plan.script_path << "\n"
        << "  shards: " << plan.shards_dir << "/task-<i>.peftproj, logs: " << plan.shards_dir << "/logs/\n"
        << "follow:   peftwb slurm status --project " << *file << "\n"
        << "merge:    peftwb project merge " << *file << " --shards " << plan.shards_dir
        << "   (the workbench merges on its own while the project is open)\n";
    return 0;
}

int slurmStatus(const Args& a, std::ostream& out, std::ostream& err) {
    const auto file = a.get("project");
    if (!file) throw Error("--project", "the project is required");
    auto p = Project::open(*file, Project::Mode::ReadOnly);
    const auto infos = slurmRuns(*p);
    if (infos.empty()) {
        out << *file << ": no runs were submitted to Slurm\n";
        return 0;
    }
    std::vector<std::string> jobs, notes;
    for (const auto& s : infos)
        if (std::find(jobs.begin(), jobs.end(), s.job_id) == jobs.end()) jobs.push_back(s.job_id);
    const auto states = querySlurm(jobs, &notes);
    json rows = json::array();
    TextTable t({{"run", true},
                 {"name", false, 32},
                 {"task"},
                 {"Slurm"},
                 {"shard"},
                 {"step", true},
                 {"metric"},
                 {"project"}});
    for (const auto& s : infos) {
        RunRecord r;
        try {
            r = p->run(s.run);
        } catch (const Error&) {
            continue;
        }
        const auto st = states.find(s.task());
        const std::string slurm =
            st == states.end()
                ? "unknown"
                : st->second.state + (st->second.reason.empty() ? "" : " (" + st->second.reason + ")");
        std::string shardState = "missing", metric;
        int64_t step = 0;
        try {
            auto sh = Project::open(s.shard, Project::Mode::ReadOnly);
            const RunRecord sr = sh->run(s.run);
            shardState = toString(sr.state);
            step = sr.steps_done;
            if (sr.summary)
                metric = sr.summary->metric_name + " " + number(sr.summary->best_dev_metric);
            else if (const auto m = sh->metrics(s.run); !m.empty())
                for (auto it = m.rbegin(); it != m.rend(); ++it)
                    if (it->split == "dev") {
                        metric =
                            it->name + " " + number(it->value) + " (step " + std::to_string(it->step) + ")";
                        break;
                    }
        } catch (const std::exception& e) {
            shardState = "unreadable";
            notes.push_back(e.what());
        }
        rows.push_back({{"run", s.run},
                        {"name", r.name},
                        {"task", s.task()},
                        {"slurm", st == states.end() ? json(nullptr) : json(st->second.state)},
                        {"slurm_reason", st == states.end() ? "" : st->second.reason},
                        {"shard_status", shardState},
                        {"shard_step", step},
                        {"steps_total", r.steps_total},
                        {"metric", metric},
                        {"status", toString(r.state)},
                        {"log", s.log}});
        t.add({std::to_string(s.run), r.name, s.task(), slurm, shardState,
               std::to_string(step) + "/" + std::to_string(r.steps_total), metric, toString(r.state)});
    }
    if (a.flag("json")) {
        out << json{{"runs", rows}, {"notes", notes}}.dump() << "\n";
        return 0;
    }
    t.print(out);
    for (const auto& n : notes)
        err << "note: " << n << "\n";
    out << "(shard: what the task has written; project: what is merged — peftwb project merge " << *file
        << ")\n";
    return 0;
}

}  // namespace

int cmdSlurm(const Args& a, std::ostream& out, std::ostream& err) {
    const auto& pos = a.positional();
    if (pos.size() != 1) throw Error("slurm", "expected 'peftwb slurm submit|task|status …'");
    if (pos[0] == "submit") return slurmSubmit(a, out, err);
    if (pos[0] == "task") return slurmTask(a, out, err);
    if (pos[0] == "status") return slurmStatus(a, out, err);
    throw Error("slurm", "unknown subcommand '" + pos[0] + "' (submit, task, status)");
}

int projectMerge(const Args& a, std::ostream& out, std::ostream& err) {
    const auto& pos = a.positional();  // merge FILE [SHARD…]
    if (pos.size() < 2)
        throw Error("project merge", "expected 'peftwb project merge FILE [SHARD…|--shards DIR]'");
    std::vector<std::string> files(pos.begin() + 2, pos.end());
    if (const auto dir = a.get("shards")) {
        std::error_code ec;
        if (!fs::is_directory(*dir, ec)) throw Error(*dir, "no such folder");
        std::vector<std::string> found;
        for (const auto& e : fs::directory_iterator(*dir, ec))
            if (e.path().extension() == ".peftproj" && e.path().filename().string().rfind("task-", 0) == 0)
                found.push_back(e.path().string());
        std::sort(found.begin(), found.end());
        if (found.empty()) throw Error(*dir, "holds no shards (task-<i>.peftproj)");
        files.insert(files.end(), found.begin(), found.end());
    }
    auto p = Project::open(pos[1]);
    if (p->readOnly()) throw Error(pos[1], "the project is read-only: merging writes into it");
    const auto merges = mergeShards(*p, files);
    int rc = 0;
    std::set<std::string> read;
    for (const auto& m : merges) {
        if (m.refused.empty()) read.insert(fs::absolute(m.shard).lexically_normal().string());
        if (!m.refused.empty()) {
            err << "skipped " << m.refused << "\n";
            rc = 1;
            continue;
        }
        out << m.shard << ": merged " << m.merged.size() << ", unchanged " << m.unchanged.size();
        for (const auto& s : m.skipped_runs)
            out << "; skipped " << s;
        out << "\n";
    }
    if (!slurmRuns(*p).empty() && !a.flag("no-slurm")) {
        std::vector<std::string> jobs, notes;
        for (const auto& s : slurmRuns(*p))
            if (std::find(jobs.begin(), jobs.end(), s.job_id) == jobs.end()) jobs.push_back(s.job_id);
        for (const auto& line : reconcileSlurmStates(*p, querySlurm(jobs, &notes), read))
            out << line << "\n";
        for (const auto& n : notes)
            err << "note: " << n << "\n";
    }
    return rc;
}

}  // namespace peft
