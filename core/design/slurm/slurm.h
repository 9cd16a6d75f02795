// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Runs of a project as one Slurm job array. Slurm is the engine: sbatch submits, squeue / scontrol / sacct
// say where each task stands; nothing here schedules. No array task writes the project: each trains the
// run(s) of its own shard (a small project file, Project::writeShard) and the shards are merged back
// (Project::mergeShard), since SQLite must not have many writers on one file over a network file system.
//
// Layout of a submission's folder (--shards DIR):
//   DIR/submit.sbatch         the script sbatch was given (readable, commented)
//   DIR/task-<i>.peftproj     the shard of array task i (written only by that task)
//   DIR/logs/task-<job>_<i>.log   the task's output (appended when it is requeued)
// The project records per run (meta "slurm.run.<id>"): job id, array index, shard, log and script paths.
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "project/project.h"

namespace peft {

struct SlurmOptions {
    std::string partition;
    int64_t gpus_per_task = 0;       // 0: none asked
    int64_t cpus_per_task = 0;       // 0: the cluster's default; also the task's thread count when set
    std::string time;                // wall-clock limit as sbatch takes it: MM, HH:MM:SS, D-HH[:MM[:SS]]
    std::string mem;                 // per node: 16G, 500M, …
    int64_t max_parallel = 0;        // array tasks at once (%K); 0: no limit
    int64_t runs_per_task = 1;       // runs trained one after another by each task
    std::vector<std::string> extra;  // further "#SBATCH" options, each starting with "--"
    std::string program;             // what the tasks run (absolute path of peftwb)
    std::string sbatch = "sbatch";   // the submit command (a name on PATH or a path)
};
/// Refuses options sbatch would refuse or that would break the script, naming the option.
void checkSlurmOptions(const SlurmOptions& o);

/// A submission before it is made: which runs go into which task, and the script.
struct SlurmPlan {
    std::string project;                      // absolute path
    std::string shards_dir;                   // absolute path
    std::vector<std::vector<int64_t>> tasks;  // run ids of each array task
    std::string script;                       // the sbatch script's text
    std::string script_path;
    std::string project_id;
};
/// Checks the runs (queued, or stopped ones that resume from their checkpoint: interrupted, cancelled,
/// failed) and the options, and writes nothing. `runs` empty: every queued run.
SlurmPlan planSlurmSubmission(const Project& project, std::vector<int64_t> runs, const std::string& shardsDir,
                              const SlurmOptions& o);

struct SlurmSubmission {
    std::string job_id;
    SlurmPlan plan;
};
/// Writes the shards and the script, runs sbatch and records the job in the project (runs become
/// "submitted", in one transaction). On any failure (sbatch missing or refusing, an unwritable folder) the
/// files it wrote are removed, the project is unchanged, and the error says what happened.
SlurmSubmission submitToSlurm(Project& project, const SlurmPlan& plan, const SlurmOptions& o);

/// What the project records about a run sent to Slurm.
struct SlurmRunInfo {
    int64_t run = 0;
    std::string job_id;
    int64_t index = 0;
    std::string shard, log, script, submitted;
    std::string task() const { return job_id + "_" + std::to_string(index); }  // Slurm's name: 12_3
};
std::vector<SlurmRunInfo> slurmRuns(const Project& project);

/// Slurm's view of one array task.
struct SlurmTaskState {
    std::string state;      // PENDING, RUNNING, COMPLETED, FAILED, TIMEOUT, CANCELLED, …
    std::string exit_code;  // "0:0" where known
    std::string reason;     // why it is pending
    std::string source;     // squeue, scontrol or sacct
};
/// The state of each task ("12_3") of these jobs: squeue for live ones, scontrol for those Slurm still
/// remembers, sacct (where accounting runs) for older ones. Tasks none of them knows are absent; `notes`
/// says which commands were missing or failed.
std::map<std::string, SlurmTaskState> querySlurm(const std::vector<std::string>& jobIds,
                                                 std::vector<std::string>* notes = nullptr);

/// Merges shards into the project (each in its own transaction; see Project::mergeShard). `files` empty:
/// the shards of every run the project sent to Slurm.
std::vector<Project::ShardMerge> mergeShards(Project& project, std::vector<std::string> files);

/// After merging: runs whose array task ended without its run ending (the task crashed, was killed, ran
/// out of memory or time) are marked failed, or stay interrupted when they can resume, with the task's
/// state and log path; a failed run gets its log path. Only runs whose shard is in `mergedShards` (read
/// whole by the merge just made) are judged: of any other, its shard may know better. Returns one line per
/// run changed.
std::vector<std::string> reconcileSlurmStates(Project& project,
                                              const std::map<std::string, SlurmTaskState>& states,
                                              const std::set<std::string>& mergedShards);

}  // namespace peft
