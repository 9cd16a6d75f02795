// SPDX-License-Identifier: GPL-3.0-or-later
#include "slurm/slurm.h"

#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "util/error.h"
#include "util/process.h"
#include "util/system.h"

namespace peft {

using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

/// `s` as one shell word in single quotes.
std::string shellQuote(const std::string& s) {
    std::string out = "'";
    for (const char c : s)
        out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

bool hasControl(const std::string& s) {
    return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; });
}

std::string shardName(size_t index) {
    return "task-" + std::to_string(index) + ".peftproj";
}

std::string trimmed(std::string s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
        s.pop_back();
    size_t b = 0;
    while (b < s.size() && std::isspace(static_cast<unsigned char>(s[b])))
        ++b;
    return s.substr(b);
}

/// The first lines of a command's error output, for a message.
std::string firstLines(const std::string& text, size_t maxChars = 400) {
    std::string t = trimmed(text);
    if (t.size() > maxChars) t = t.substr(0, maxChars) + " …";
    std::replace(t.begin(), t.end(), '\n', ' ');
    return t;
}

}  // namespace

void checkSlurmOptions(const SlurmOptions& o) {
    static const std::regex partition(R"([A-Za-z0-9_.\-]+(,[A-Za-z0-9_.\-]+)*)");
    if (!o.partition.empty() && !std::regex_match(o.partition, partition))
        throw Error("--partition", "'" + o.partition + "' is not a partition name (letters, digits, _ . -)");
    const auto range = [](int64_t v, int64_t lo, int64_t hi, const char* name) {
        if (v < lo || v > hi)
            throw Error(name, "expected " + std::to_string(lo) + " to " + std::to_string(hi) + ", got " +
                                  std::to_string(v));
    };
    range(o.gpus_per_task, 0, 1024, "--gpus-per-task");
    range(o.cpus_per_task, 0, 4096, "--cpus-per-task");
    range(o.max_parallel, 0, 100000, "--max-parallel");
    range(o.runs_per_task, 1, 100000, "--runs-per-task");
    // sbatch's time formats: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S (and UNLIMITED).
    static const std::regex time(
        R"((\d{1,7}(:\d{1,2}){0,2})|(\d{1,5}-\d{1,2}(:\d{1,2}){0,2})|UNLIMITED|unlimited)");
    if (!o.time.empty() && !std::regex_match(o.time, time))
        throw Error("--time",
                    "'" + o.time + "' is not a time limit sbatch takes (MM, HH:MM:SS or D-HH:MM:SS)");
    static const std::regex mem(R"(\d{1,9}[KMGT]?)");
    if (!o.mem.empty() && !std::regex_match(o.mem, mem))
        throw Error("--mem", "'" + o.mem + "' is not a memory size (a number with K, M, G or T)");
    for (const auto& e : o.extra) {
        if (e.rfind("--", 0) != 0 || e.size() < 3 || hasControl(e))
            throw Error("--extra", "'" + e + "' is not one sbatch option on one line (it starts with --)");
        for (const char* own : {"--array", "--output", "--error", "--open-mode", "--chdir", "--parsable"})
            if (e.rfind(own, 0) == 0)
                throw Error("--extra",
                            std::string(own) + " is set by the workbench (the array and its logs)");
    }
    if (o.program.empty() || o.program.front() != '/' || hasControl(o.program))
        throw Error("program", "the tasks need the absolute path of peftwb, got '" + o.program + "'");
}

SlurmPlan planSlurmSubmission(const Project& project, std::vector<int64_t> runs, const std::string& shardsDir,
                              const SlurmOptions& o) {
    checkSlurmOptions(o);
    SlurmPlan plan;
    plan.project = fs::absolute(project.path()).lexically_normal().string();
    if (shardsDir.empty())
        throw Error("--shards", "name a folder for the shards (on a file system the nodes see)");
    plan.shards_dir = fs::absolute(shardsDir).lexically_normal().string();
    if (plan.shards_dir.size() > 1 && plan.shards_dir.back() == '/') plan.shards_dir.pop_back();
    if (hasControl(plan.shards_dir) || hasControl(plan.project))
        throw Error(plan.shards_dir, "a path with control characters cannot go into a job script");
    std::error_code ec;
    if (fs::exists(plan.shards_dir, ec) && !fs::is_directory(plan.shards_dir, ec))
        throw Error(plan.shards_dir, "is not a folder");
    if (fs::exists(fs::path(plan.shards_dir) / "submit.sbatch", ec) ||
        fs::exists(fs::path(plan.shards_dir) / shardName(0), ec))
        throw Error(plan.shards_dir,
                    "holds the shards of an earlier submission: merge them, then choose another "
                    "folder");

    const std::vector<RunRecord> all = project.runs();
    std::map<int64_t, const RunRecord*> byId;
    for (const auto& r : all)
        byId[r.id] = &r;
    if (runs.empty()) {
        for (const auto& r : all)
            if (r.state == RunState::Queued) runs.push_back(r.id);
        if (runs.empty()) throw Error(project.path(), "has no queued runs to submit");
    }
    std::set<int64_t> seen;
    for (const int64_t id : runs) {
        const auto it = byId.find(id);
        if (it == byId.end()) throw Error("--runs", "the project has no run " + std::to_string(id));
        if (!seen.insert(id).second) throw Error("--runs", "run " + std::to_string(id) + " is named twice");
        const RunRecord& r = *it->second;
        const std::string what = "run " + std::to_string(id) + " (" + r.name + ")";
        switch (r.state) {
            case RunState::Queued:
            case RunState::Interrupted:
            case RunState::Cancelled:
            case RunState::Failed:
                break;  // the shard carries its checkpoint: it resumes, or starts again without one
            case RunState::Submitted:
                throw Error("--runs", what + " is already submitted to Slurm (merge its shard, or wait)");
            case RunState::Running:
            case RunState::Paused:
                throw Error("--runs", what + " is training here");
            case RunState::Finished:
            case RunState::Diverged:
                throw Error("--runs",
                            what + " has ended (" + toString(r.state) + "): requeue it to train again");
        }
    }
    for (size_t i = 0; i < runs.size(); i += size_t(o.runs_per_task))
        plan.tasks.emplace_back(runs.begin() + long(i),
                                runs.begin() + long(std::min(runs.size(), i + size_t(o.runs_per_task))));
    plan.project_id = project.meta("project_id").value_or(Project::newProjectId());
    plan.script_path = plan.shards_dir + "/submit.sbatch";

    // The script.
    std::ostringstream s;
    const std::string name = fs::path(plan.project).stem().string();
    s << "#!/bin/bash\n"
      << "# PEFT Workbench: " << runs.size() << " run(s) of " << plan.project << "\n"
      << "# as one Slurm job array of " << plan.tasks.size() << " task(s), written " << utcNowIso() << ".\n"
      << "# Array task i trains the run(s) of its shard and writes only that file, never the project:\n"
      << "#   " << plan.shards_dir << "/task-<i>.peftproj\n"
      << "# Bring the results home with\n"
      << "#   peftwb project merge " << shellQuote(plan.project) << " \\\n#       --shards "
      << shellQuote(plan.shards_dir) << "\n# and follow the tasks with\n"
      << "#   peftwb slurm status --project " << shellQuote(plan.project) << "\n#\n";
    for (size_t i = 0; i < plan.tasks.size(); ++i) {
        s << "#   task " << i << ":";
        for (const int64_t id : plan.tasks[i]) {
            std::string n = byId[id]->name;
            if (hasControl(n)) n = "…";
            s << " run " << id << " \"" << n << "\"";
        }
        s << "\n";
    }
    std::string jobName = "peftwb-" + name;
    for (char& c : jobName)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') c = '_';
    s << "#\n"
      << "#SBATCH --job-name=" << jobName << "\n"
      << "#SBATCH --array=0-" << plan.tasks.size() - 1
      << (o.max_parallel > 0 ? "%" + std::to_string(o.max_parallel) : "") << "\n"
      << "#SBATCH --chdir=" << plan.shards_dir << "\n"
      << "# One log per task; a requeued task appends to it.\n"
      << "#SBATCH --output=" << plan.shards_dir << "/logs/task-%A_%a.log\n"
      << "#SBATCH --open-mode=append\n"
      << "# Preempted tasks come back and resume from the checkpoint they wrote on SIGTERM.\n"
      << "#SBATCH --requeue\n";
    if (!o.partition.empty()) s << "#SBATCH --partition=" << o.partition << "\n";
    if (o.cpus_per_task > 0) s << "#SBATCH --cpus-per-task=" << o.cpus_per_task << "\n";
    if (o.gpus_per_task > 0) s << "#SBATCH --gpus-per-task=" << o.gpus_per_task << "\n";
    if (!o.time.empty()) s << "#SBATCH --time=" << o.time << "\n";
    if (!o.mem.empty()) s << "#SBATCH --mem=" << o.mem << "\n";
    for (const auto& e : o.extra)
        s << "#SBATCH " << e << "\n";
    s << "\n# exec: SIGTERM (preemption, the time limit) reaches peftwb itself: it writes a\n"
      << "# checkpoint and exits, and the requeued task resumes from it.\n"
      << "exec " << shellQuote(o.program) << " slurm task \\\n    --shards " << shellQuote(plan.shards_dir)
      << (o.cpus_per_task > 0
              ? " --threads \"${SLURM_CPUS_PER_TASK:-" + std::to_string(o.cpus_per_task) + "}\""
              : "")
      << "\n";
    plan.script = s.str();
    return plan;
}

SlurmSubmission submitToSlurm(Project& project, const SlurmPlan& plan, const SlurmOptions& o) {
    const std::string sbatch = findOnPath(o.sbatch);
    if (sbatch.empty())
        throw Error(o.sbatch,
                    "not found on PATH: submit from a machine with Slurm's client commands (Debian: "
                    "slurm-client), or run the queue here");
    if (project.readOnly()) throw Error(project.path(), "the project is open read-only");
    const fs::path dir = plan.shards_dir;
    std::error_code ec;
    const bool madeDir = !fs::exists(dir, ec);
    std::vector<fs::path> written;
    const auto cleanUp = [&] {
        std::error_code e;
        for (auto it = written.rbegin(); it != written.rend(); ++it)
            fs::remove(*it, e);
        if (madeDir) fs::remove(dir, e);
    };
    try {
        const bool madeLogs = !fs::exists(dir / "logs", ec);
        fs::create_directories(dir / "logs", ec);
        if (ec) throw Error(plan.shards_dir, "cannot create the folder: " + ec.message());
        if (madeLogs) written.push_back(dir / "logs");  // removed last: the list is undone in reverse
        if (access(dir.c_str(), W_OK) != 0 || access((dir / "logs").c_str(), W_OK) != 0)
            throw Error(plan.shards_dir, "is not writable: the tasks write their shards and logs there");
        for (size_t i = 0; i < plan.tasks.size(); ++i) {
            const fs::path shard = dir / shardName(i);
            json info = {{"project_id", plan.project_id},
                         {"project", plan.project},
                         {"task", i},
                         {"created", utcNowIso()}};
            project.writeShard(shard.string(), plan.tasks[i], info);
            written.push_back(shard);
        }
        {
            std::ofstream f(plan.script_path, std::ios::binary | std::ios::trunc);
            f << plan.script;
            f.close();
            if (!f) throw Error(plan.script_path, "cannot be written");
            written.push_back(plan.script_path);
            fs::permissions(plan.script_path,
                            fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec,
                            fs::perm_options::add, ec);
        }
        const CommandResult r = runCommand({sbatch, "--parsable", plan.script_path}, 120);
        if (!r.started) throw Error(sbatch, "could not be started");
        if (r.timed_out) throw Error(sbatch, "did not answer within 120 s (is slurmctld reachable?)");
        if (r.exit_code != 0)
            throw Error(sbatch, "refused the job (exit " + std::to_string(r.exit_code) +
                                    "): " + firstLines(r.err.empty() ? r.out : r.err));
        std::string job = trimmed(r.out);
        job = job.substr(0, job.find(';'));  // "12;cluster" on a federation
        if (job.empty() || !std::all_of(job.begin(), job.end(), ::isdigit))
            throw Error(sbatch, "answered without a job id: " + firstLines(r.out + r.err));
        std::map<int64_t, std::string> infos;
        for (size_t i = 0; i < plan.tasks.size(); ++i)
            for (const int64_t id : plan.tasks[i])
                infos[id] =
                    json{{"job", job},
                         {"index", i},
                         {"shard", (dir / shardName(i)).string()},
                         {"log", plan.shards_dir + "/logs/task-" + job + "_" + std::to_string(i) + ".log"},
                         {"script", plan.script_path},
                         {"submitted", utcNowIso()}}
                        .dump();
        try {
            project.markSubmitted(infos, plan.project_id);
        } catch (const std::exception& e) {
            // The job must not run for a project that does not know it.
            runCommand({"scancel", job}, 30);
            throw Error(project.path(),
                        std::string("the job ") + job +
                            " was submitted but could not be recorded, so it was cancelled: " + e.what());
        }
        written.clear();  // kept: they are the submission
        return {job, plan};
    } catch (...) {
        cleanUp();
        throw;
    }
}

std::vector<SlurmRunInfo> slurmRuns(const Project& project) {
    std::vector<SlurmRunInfo> out;
    for (const std::string& key : project.metaKeys("slurm.run.")) {
        SlurmRunInfo s;
        try {
            s.run = std::stoll(key.substr(std::string("slurm.run.").size()));
            const json j = json::parse(project.meta(key).value_or("{}"));
            s.job_id = j.value("job", "");
            s.index = j.value("index", int64_t(0));
            s.shard = j.value("shard", "");
            s.log = j.value("log", "");
            s.script = j.value("script", "");
            s.submitted = j.value("submitted", "");
        } catch (const std::exception&) {
            continue;  // not ours
        }
        out.push_back(s);
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.run < b.run; });
    return out;
}

namespace {

/// "2-3,5,7-9%2" → 2 3 5 7 8 9 (capped: a pending remainder can name many tasks).
std::vector<int64_t> expandTaskIds(std::string spec) {
    spec = spec.substr(0, spec.find('%'));
    if (!spec.empty() && spec.front() == '[') spec = spec.substr(1, spec.find(']') - 1);
    std::vector<int64_t> out;
    std::stringstream ss(spec);
    std::string part;
    while (std::getline(ss, part, ',')) {
        try {
            const auto dash = part.find('-');
            const int64_t a = std::stoll(part.substr(0, dash));
            const int64_t b = dash == std::string::npos ? a : std::stoll(part.substr(dash + 1));
            for (int64_t i = a; i <= b && out.size() < 100000; ++i)
                out.push_back(i);
        } catch (const std::exception&) {
        }
    }
    return out;
}

std::string joined(const std::vector<std::string>& v, const char* sep) {
    std::string out;
    for (const auto& s : v)
        out += (out.empty() ? "" : sep) + s;
    return out;
}

}  // namespace

std::map<std::string, SlurmTaskState> querySlurm(const std::vector<std::string>& jobIds,
                                                 std::vector<std::string>* notes) {
    std::map<std::string, SlurmTaskState> states;
    if (jobIds.empty()) return states;
    const auto note = [&](const std::string& n) {
        if (notes) notes->push_back(n);
    };
    const std::string jobs = joined(jobIds, ",");
    // Live tasks.
    if (findOnPath("squeue").empty()) {
        note("squeue is not on PATH: Slurm's states are unknown here");
        return states;
    }
    const CommandResult q = runCommand({"squeue", "-h", "-r", "-j", jobs, "-o", "%i|%T|%r"}, 60);
    if (q.started && !q.timed_out) {
        std::istringstream in(q.out);
        std::string line;
        while (std::getline(in, line)) {
            std::istringstream f(line);
            std::string id, state, reason;
            std::getline(f, id, '|');
            std::getline(f, state, '|');
            std::getline(f, reason);
            if (id.find('_') != std::string::npos && !state.empty())
                states[id] = {state, "", reason == "None" ? "" : reason, "squeue"};
        }
    } else {
        note("squeue did not answer" + std::string(q.timed_out ? " within 60 s" : ""));
    }
    // Recently ended (and pending remainders): scontrol, one line per task.
    for (const auto& job : jobIds) {
        const CommandResult c = runCommand({"scontrol", "-o", "show", "job", job}, 60);
        if (!c.started || c.timed_out || c.exit_code != 0) continue;
        std::istringstream in(c.out);
        std::string line;
        while (std::getline(in, line)) {
            std::map<std::string, std::string> kv;
            std::istringstream f(line);
            std::string tok;
            while (f >> tok) {
                const auto eq = tok.find('=');
                if (eq != std::string::npos) kv.emplace(tok.substr(0, eq), tok.substr(eq + 1));
            }
            if (kv["ArrayJobId"] != job || kv["ArrayTaskId"].empty()) continue;
            for (const int64_t t : expandTaskIds(kv["ArrayTaskId"])) {
                const std::string id = job + "_" + std::to_string(t);
                if (!states.count(id))
                    states[id] = {kv["JobState"], kv["ExitCode"], kv["Reason"] == "None" ? "" : kv["Reason"],
                                  "scontrol"};
            }
        }
    }
    // Older ones, where accounting runs: only for jobs neither squeue nor scontrol knows any more.
    const bool forgotten = std::any_of(jobIds.begin(), jobIds.end(), [&](const std::string& job) {
        const auto it = states.lower_bound(job + "_");
        return it == states.end() || it->first.rfind(job + "_", 0) != 0;
    });
    if (forgotten && !findOnPath("sacct").empty()) {
        const CommandResult a =
            runCommand({"sacct", "-n", "-P", "-X", "-j", jobs, "-o", "JobID,State,ExitCode"}, 60);
        if (a.started && !a.timed_out && a.exit_code == 0) {
            std::istringstream in(a.out);
            std::string line;
            while (std::getline(in, line)) {
                std::istringstream f(line);
                std::string id, state, exit;
                std::getline(f, id, '|');
                std::getline(f, state, '|');
                std::getline(f, exit);
                const auto us = id.find('_');
                if (us == std::string::npos) continue;
                state = state.substr(0, state.find(' '));  // "CANCELLED by 0"
                for (const int64_t t : expandTaskIds(id.substr(us + 1))) {
                    const std::string tid = id.substr(0, us) + "_" + std::to_string(t);
                    if (!states.count(tid)) states[tid] = {state, exit, "", "sacct"};
                }
            }
        } else if (a.started) {
            note("sacct: " + firstLines(a.err.empty() ? a.out : a.err, 120));
        }
    }
    return states;
}

std::vector<Project::ShardMerge> mergeShards(Project& project, std::vector<std::string> files) {
    if (files.empty()) {
        std::set<std::string> seen;
        for (const auto& s : slurmRuns(project))
            if (seen.insert(s.shard).second) files.push_back(s.shard);
    }
    std::vector<Project::ShardMerge> out;
    for (const auto& f : files) {
        try {
            out.push_back(project.mergeShard(f));
        } catch (const std::exception& e) {
            Project::ShardMerge m;
            m.shard = f;
            m.refused = e.what();
            out.push_back(m);
        }
    }
    return out;
}

std::vector<std::string> reconcileSlurmStates(Project& project,
                                              const std::map<std::string, SlurmTaskState>& states,
                                              const std::set<std::string>& mergedShards) {
    static const std::set<std::string> ended = {"COMPLETED", "FAILED",    "CANCELLED",
                                                "TIMEOUT",   "NODE_FAIL", "OUT_OF_MEMORY",
                                                "BOOT_FAIL", "DEADLINE",  "PREEMPTED"};
    std::vector<std::string> changed;
    for (const SlurmRunInfo& s : slurmRuns(project)) {
        if (!mergedShards.count(fs::absolute(s.shard).lexically_normal().string())) continue;
        RunRecord r;
        try {
            r = project.run(s.run);
        } catch (const Error&) {
            continue;  // deleted since
        }
        const std::string logNote = "its log: " + s.log;
        if (r.state == RunState::Failed) {
            if (r.message.find(logNote) == std::string::npos) {
                project.setRunState(r.id, RunState::Failed,
                                    r.message + (r.message.empty() ? "" : "; ") + logNote);
                changed.push_back("run " + std::to_string(r.id) + ": failed; " + logNote);
            }
            continue;
        }
        const auto it = states.find(s.task());
        if (it == states.end() || !ended.count(it->second.state)) continue;
        if (r.message.find("array task " + s.task()) != std::string::npos) continue;  // said already
        const std::string ending =
            "array task " + s.task() + " ended " + it->second.state +
            (it->second.exit_code.empty() ? "" : " (exit " + it->second.exit_code + ")");
        if ((r.state == RunState::Interrupted || r.state == RunState::Submitted) && r.resumable_step) {
            project.setRunState(r.id, RunState::Interrupted,
                                r.message + "; " + ending +
                                    ": submit it again to resume (peftwb slurm submit --runs " +
                                    std::to_string(r.id) + "); " + logNote);
            changed.push_back("run " + std::to_string(r.id) + ": interrupted, resumable; " + ending);
        } else if (r.state == RunState::Submitted || r.state == RunState::Interrupted) {
            project.setRunState(r.id, RunState::Failed, ending + " before its run finished; " + logNote);
            changed.push_back("run " + std::to_string(r.id) + ": failed; " + ending);
        }
    }
    return changed;
}

}  // namespace peft
