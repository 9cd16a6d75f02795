// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// An experiment project: one SQLite file (extension .peftproj) in WAL mode holding the backbone reference,
// datasets, runs (spec, training config, seed, device, status), metric streams, checkpoints of the trainable
// parameters (safetensors bytes, with the optimizer and RNG state needed to resume), summaries and notes.
// The tables and columns are documented in docs/project-format.md.
//
// Bad files never crash and are never modified: opening checks the header, the application id, the schema
// version and every table before anything is written, and each failure names the file and the problem.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/file_data.h"
#include "model/config.h"
#include "peft/spec.h"
#include "train/events.h"
#include "train/train_config.h"

struct sqlite3;

namespace peft {

/// The schema this build writes. Files with a larger version are refused; smaller ones are migrated.
/// 2: runs may be "submitted" (to a cluster). Version 1 files are migrated when opened for writing.
constexpr int kProjectSchemaVersion = 2;
/// PRAGMA application_id of every project file ("PEFT").
constexpr int32_t kProjectApplicationId = 0x50454654;

/// Where a run stands. `Interrupted`: it was running when its process died (found when the file reopens), or
/// it was stopped by a signal after writing a checkpoint. `Submitted`: queued on a cluster (Slurm); its
/// progress arrives through its shard (project merge).
enum class RunState {
    Queued,
    Running,
    Paused,
    Finished,
    Cancelled,
    Diverged,
    Interrupted,
    Failed,
    Submitted
};
const char* toString(RunState s);
RunState runStateFromString(const std::string& s);  // throws peft::Error for an unknown name
RunState toRunState(RunStatus s);                   // the trainer's status as stored

struct RunSummary {
    std::string metric_name;
    double best_dev_metric = 0;
    int64_t best_step = 0;
    double seconds = 0;
    int64_t peak_memory_bytes = 0;
    int64_t trained_params = 0, stored_params = 0, backbone_params = 0;
};

struct RunRecord {
    int64_t id = 0;
    std::string name;
    std::string preset;  // preset id, or "custom"
    nlohmann::json spec;
    nlohmann::json train_config;
    std::optional<int64_t> dataset_id;
    uint64_t seed = 0;
    std::string device = "cpu";
    RunState state = RunState::Queued;
    std::string message;  // why it stopped, when not finished
    int64_t steps_total = 0, steps_done = 0;
    std::string created, started, finished;  // ISO 8601 UTC
    std::string notes;
    std::optional<RunSummary> summary;
    std::optional<int64_t> resumable_step;  // the step of its checkpoint with resume state, when it has one
};

struct DatasetRecord {
    int64_t id = 0;
    std::string name;    // "sentiment", or the file's name
    std::string source;  // "builtin" or "file"
    std::string path;    // for files
    std::string content_hash;
    nlohmann::json mapping;  // column mapping, split sizes, …
    std::vector<std::string> labels;
};

struct MetricRow {
    int64_t step = 0;
    double wall_time = 0;
    std::string split, name;
    double value = 0;
};

/// A stored checkpoint: trainable tensors and, for resuming, the trainer's state at that step.
struct CheckpointRecord {
    int64_t id = 0, run_id = 0, step = 0;
    std::string kind;  // "eval" (the latest evaluation point) or "best"
    std::optional<double> metric;
    std::string tensors;  // safetensors bytes
    std::string resume;   // TrainCheckpoint::serialize() bytes; empty for "best"
};

class Project {
public:
    enum class Mode { ReadWrite, ReadOnly };

    /// Creates a new project file; refuses to overwrite an existing file.
    static std::unique_ptr<Project> create(const std::string& path, const nlohmann::json& backbone);
    /// Opens a project. ReadWrite falls back to read-only (with a message) when the file is not writable.
    /// Runs left "running" or "paused" by a process that no longer exists are marked "interrupted".
    static std::unique_ptr<Project> open(const std::string& path, Mode mode = Mode::ReadWrite);
    ~Project();
    Project(const Project&) = delete;
    Project& operator=(const Project&) = delete;

    const std::string& path() const { return path_; }
    bool readOnly() const { return readOnly_; }
    /// What opening found and did (read-only fallback, runs marked interrupted, migration).
    const std::vector<std::string>& openMessages() const { return messages_; }
    int schemaVersion() const;

    std::optional<std::string> meta(const std::string& key) const;
    /// Every meta key that starts with `prefix`, sorted.
    std::vector<std::string> metaKeys(const std::string& prefix) const;
    void setMeta(const std::string& key, const std::string& value);
    /// The backbone reference: {"id": "default"} or {"path": …, "hash": …}.
    nlohmann::json backbone() const;

    int64_t addDataset(const DatasetRecord& d);
    std::vector<DatasetRecord> datasets() const;
    DatasetRecord dataset(int64_t id) const;  // throws when there is no such dataset

    /// Adds a queued run; returns its id.
    int64_t addRun(const RunRecord& r);
    std::vector<RunRecord> runs() const;
    RunRecord run(int64_t id) const;  // throws when there is no such run
    void setRunState(int64_t id, RunState s, const std::string& message = {});
    void setStepsDone(int64_t id, int64_t steps);
    void setNotes(int64_t id, const std::string& notes);
    /// Where the run trains: a queue's placement (cuda → cuda:1) in its record, device column and training
    /// settings alike.
    void setRunDevice(int64_t id, const std::string& device);
    void renameRun(int64_t id, const std::string& name);
    /// Queues a run again from step 0: its metrics, checkpoints and summary are deleted (one transaction).
    /// Refused while it trains.
    void requeueRun(int64_t id);
    /// Deletes a run with its metrics, checkpoints and summary (one transaction); the file gives the space
    /// back at the next compact(). Refused while it trains.
    void deleteRun(int64_t id);
    /// VACUUM: returns the pages of deleted runs to the file system.
    void compact();
    /// Deletes the checkpoints of every run that is not training (metrics and summaries stay: a project to
    /// ship or archive); returns how many. The space comes back at the next compact().
    int64_t dropCheckpoints();
    void setSummary(int64_t id, const RunSummary& s);
    /// Marks the run as owned by this process (for interruption detection) and refreshes its heartbeat.
    void heartbeat(int64_t id);

    /// Appends metric points in one transaction.
    void appendMetrics(int64_t run, const std::vector<MetricPoint>& points);
    std::vector<MetricRow> metrics(int64_t run, const std::string& name = {}) const;
    int64_t metricCount(int64_t run) const;

    /// Stores a checkpoint; an "eval" checkpoint replaces the run's previous one, a "best" one too.
    void saveCheckpoint(const CheckpointRecord& c);
    std::optional<CheckpointRecord> checkpoint(int64_t run, const std::string& kind) const;

    /// Writes a consistent copy of the project to `path` (SQLite's online backup) and returns it opened.
    std::unique_ptr<Project> saveAs(const std::string& path) const;

    /// This project's id (128 random bits, hex; made on first use): shards carry it, so a shard of another
    /// project is refused.
    std::string projectId();
    /// A new random project id (what projectId() stores on first use).
    static std::string newProjectId();
    /// Marks runs as submitted to a cluster and stores what the project keeps about each (meta
    /// "slurm.run.<id>"), with the project id the shards carry when the project has none yet; one
    /// transaction. What an earlier merge recorded of those runs is forgotten.
    void markSubmitted(const std::map<int64_t, std::string>& infoByRun, const std::string& projectId);
    /// Writes a shard for a cluster task: a new project file at `path` in rollback-journal mode (one writer,
    /// safe on a network file system) holding copies of runs `ids` under the same ids, with their datasets,
    /// metrics and checkpoints (an interrupted run resumes from them) and `info` (meta "shard"; it must
    /// name the project: "project_id"). Throws, leaving no file, when `path` exists or cannot be written.
    void writeShard(const std::string& path, const std::vector<int64_t>& ids,
                    const nlohmann::json& info) const;
    /// The outcome of merging one shard.
    struct ShardMerge {
        std::string shard;
        std::vector<int64_t> merged, unchanged;  // runs brought in; runs already as the shard has them
        std::vector<std::string> skipped_runs;   // "run N: reason" (older than the project's copy, …)
        std::string refused;                     // why the whole shard was skipped (empty: it was read)
    };
    /// Brings the runs of shard `path` into this project, each shard in one transaction: status, steps,
    /// metrics, checkpoints and summary replace the project's. Idempotent (a run already merged at the same
    /// point is unchanged; a shard behind the project's copy is skipped). A file that is not a readable
    /// shard of this project, or whose runs have another spec, training setting, seed or data, is refused
    /// with the reason and changes nothing.
    ShardMerge mergeShard(const std::string& path);

    /// Deletes metric points after `step` (a resumed run continues its curve from its checkpoint).
    void truncateMetricsAfter(int64_t run, int64_t step);

private:
    Project(std::string path, sqlite3* db, bool readOnly);
    /// A new file with the schema: WAL, or a rollback journal (shards, meta "journal" = "delete").
    static std::unique_ptr<Project> createFile(const std::string& path, const std::string& backbone,
                                               bool rollbackJournal);
    void checkWritable() const;
    void validateSchema();
    void markInterrupted();
    void migrate();

    std::string path_;
    sqlite3* db_ = nullptr;
    bool readOnly_ = false;
    std::vector<std::string> messages_;
};

}  // namespace peft
