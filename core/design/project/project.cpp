// SPDX-License-Identifier: GPL-3.0-or-later
#include "project/project.h"

#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <set>

#include "util/enum_table.h"
#include "util/error.h"
#include "util/files.h"
#include "util/json_read.h"
#include "util/system.h"

namespace peft {

using json = nlohmann::json;

namespace {

// The schema of version 1. Every statement is idempotent so that creation and validation share it.
const char* const kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS datasets (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    source       TEXT NOT NULL CHECK (source IN ('builtin', 'file')),
    path         TEXT NOT NULL DEFAULT '',
    content_hash TEXT NOT NULL DEFAULT '',
    mapping      TEXT NOT NULL DEFAULT '{}',
    labels       TEXT NOT NULL DEFAULT '[]',
    created      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    preset       TEXT NOT NULL DEFAULT 'custom',
    spec         TEXT NOT NULL,
    train_config TEXT NOT NULL,
    dataset_id   INTEGER REFERENCES datasets(id),
    seed         INTEGER NOT NULL DEFAULT 0,
    device       TEXT NOT NULL DEFAULT 'cpu',
    status       TEXT NOT NULL DEFAULT 'queued' CHECK (status IN
                 ('queued', 'running', 'paused', 'finished', 'cancelled', 'diverged', 'interrupted', 'failed',
                  'submitted')),
    message      TEXT NOT NULL DEFAULT '',
    steps_total  INTEGER NOT NULL DEFAULT 0,
    steps_done   INTEGER NOT NULL DEFAULT 0,
    created      TEXT NOT NULL,
    started      TEXT NOT NULL DEFAULT '',
    finished     TEXT NOT NULL DEFAULT '',
    notes        TEXT NOT NULL DEFAULT '',
    owner        TEXT NOT NULL DEFAULT '',
    heartbeat    REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS metrics (
    run_id    INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step      INTEGER NOT NULL,
    wall_time REAL NOT NULL,
    split     TEXT NOT NULL,
    name      TEXT NOT NULL,
    value     REAL
);
CREATE INDEX IF NOT EXISTS metrics_by_run ON metrics (run_id, name, step);
CREATE TABLE IF NOT EXISTS checkpoints (
    id      INTEGER PRIMARY KEY,
    run_id  INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step    INTEGER NOT NULL,
    kind    TEXT NOT NULL CHECK (kind IN ('eval', 'best')),
    metric  REAL,
    tensors BLOB NOT NULL,
    resume  BLOB NOT NULL DEFAULT x'',
    created TEXT NOT NULL,
    UNIQUE (run_id, kind)
);
CREATE TABLE IF NOT EXISTS summaries (
    run_id            INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    metric_name       TEXT NOT NULL,
    best_dev_metric   REAL,
    best_step         INTEGER NOT NULL,
    seconds           REAL NOT NULL,
    peak_memory_bytes INTEGER NOT NULL,
    trained_params    INTEGER NOT NULL,
    stored_params     INTEGER NOT NULL,
    backbone_params   INTEGER NOT NULL
);
)sql";

// Columns every table of the current schema must have (checked on open, so a foreign database is refused
// before anything reads it).
const std::map<std::string, std::set<std::string>>& requiredColumns() {
    static const std::map<std::string, std::set<std::string>> cols = {
        {"meta", {"key", "value"}},
        {"datasets", {"id", "name", "source", "path", "content_hash", "mapping", "labels", "created"}},
        {"runs",
         {"id", "name", "preset", "spec", "train_config", "dataset_id", "seed", "device", "status", "message",
          "steps_total", "steps_done", "created", "started", "finished", "notes", "owner", "heartbeat"}},
        {"metrics", {"run_id", "step", "wall_time", "split", "name", "value"}},
        {"checkpoints", {"id", "run_id", "step", "kind", "metric", "tensors", "resume", "created"}},
        {"summaries",
         {"run_id", "metric_name", "best_dev_metric", "best_step", "seconds", "peak_memory_bytes",
          "trained_params", "stored_params", "backbone_params"}},
    };
    return cols;
}

double nowEpoch() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string ownerTag() {
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    return std::string(host) + ":" + std::to_string(getpid());
}

/// Whether the process that owns a running run is alive: on this host by its pid, on another by a
/// heartbeat younger than a minute. `selfCounts`: this process is alive (false when a fresh open cleans
/// up after earlier processes, whose pid this one may have been given).
bool ownerAlive(const std::string& owner, double heartbeat, bool selfCounts) {
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    const auto colon = owner.rfind(':');
    if (colon == std::string::npos) return false;
    if (owner.substr(0, colon) != host) return nowEpoch() - heartbeat < 60.0;
    const long pid = std::strtol(owner.c_str() + colon + 1, nullptr, 10);
    if (pid == getpid()) return selfCounts;
    return pid > 0 && (kill(pid_t(pid), 0) == 0 || errno == EPERM);
}

/// The step of a run's resumable checkpoint (NULL when it has none), as a column of a query over `runs r`.
const char* const kResumableStep =
    "(SELECT step FROM checkpoints c WHERE c.run_id = r.id AND c.kind = 'eval' AND length(c.resume) > 0)";

/// What a run whose process died can do next: resume from its last checkpoint, or (none yet) start again.
std::string interruptedMessage(int64_t steps, std::optional<int64_t> checkpointStep) {
    std::string m = "the process training it stopped after step " + std::to_string(steps) + "; ";
    if (checkpointStep)
        return m + "it can resume from its checkpoint of step " + std::to_string(*checkpointStep) +
               " (metrics written before are kept)";
    return m + "it stopped before its first checkpoint, so it cannot resume: run it again from step 0";
}

/// A prepared statement that finalizes itself; binding by position, 1-based.
class Stmt {
public:
    Stmt(sqlite3* db, const std::string& sql, const std::string& where) : db_(db), where_(where) {
        if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s_, nullptr) != SQLITE_OK)
            throw Error(where_, std::string("cannot prepare a query: ") + sqlite3_errmsg(db));
    }
    ~Stmt() { sqlite3_finalize(s_); }
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;

    Stmt& bind(int i, int64_t v) { return check(sqlite3_bind_int64(s_, i, v)); }
    Stmt& bind(int i, double v) { return check(sqlite3_bind_double(s_, i, v)); }
    Stmt& bind(int i, const std::string& v) {
        return check(sqlite3_bind_text(s_, i, v.data(), int(v.size()), SQLITE_TRANSIENT));
    }
    Stmt& bindBlob(int i, const std::string& v) {
        return check(sqlite3_bind_blob64(s_, i, v.data(), v.size(), SQLITE_TRANSIENT));
    }
    Stmt& bindNull(int i) { return check(sqlite3_bind_null(s_, i)); }

    /// Steps once: true while a row is available.
    bool step() {
        const int rc = sqlite3_step(s_);
        if (rc == SQLITE_ROW) return true;
        if (rc == SQLITE_DONE) return false;
        throw Error(where_, std::string("query failed: ") + sqlite3_errmsg(db_));
    }
    void reset() {
        sqlite3_reset(s_);
        sqlite3_clear_bindings(s_);
    }
    int64_t i64(int c) const { return sqlite3_column_int64(s_, c); }
    double f64(int c) const { return sqlite3_column_double(s_, c); }
    bool isNull(int c) const { return sqlite3_column_type(s_, c) == SQLITE_NULL; }
    std::string text(int c) const {
        const auto* p = sqlite3_column_text(s_, c);
        return p ? std::string(reinterpret_cast<const char*>(p), size_t(sqlite3_column_bytes(s_, c))) : "";
    }
    std::string blob(int c) const {
        const void* p = sqlite3_column_blob(s_, c);
        return p ? std::string(static_cast<const char*>(p), size_t(sqlite3_column_bytes(s_, c))) : "";
    }

private:
    Stmt& check(int rc) {
        if (rc != SQLITE_OK) throw Error(where_, std::string("cannot bind a value: ") + sqlite3_errmsg(db_));
        return *this;
    }
    sqlite3* db_;
    sqlite3_stmt* s_ = nullptr;
    std::string where_;
};

void exec(sqlite3* db, const std::string& sql, const std::string& where) {
    char* err = nullptr;
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
        const std::string msg = err ? err : sqlite3_errmsg(db);
        sqlite3_free(err);
        throw Error(where, msg);
    }
}

/// BEGIN IMMEDIATE … COMMIT, rolled back when an exception leaves the scope.
class Transaction {
public:
    Transaction(sqlite3* db, const std::string& where) : db_(db), where_(where) {
        exec(db_, "BEGIN IMMEDIATE", where_);
    }
    ~Transaction() {
        if (!done_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
    void commit() {
        exec(db_, "COMMIT", where_);
        done_ = true;
    }

private:
    sqlite3* db_;
    std::string where_;
    bool done_ = false;
};

json parseJsonColumn(const std::string& text, const std::string& where) {
    try {
        return parseJson(text, "stored JSON");
    } catch (const Error& e) {
        throw Error(where, e.what());
    }
}

sqlite3* openDatabase(const std::string& path, int flags, const char* failure) {
    sqlite3* db = nullptr;
    if (path.rfind("file:", 0) == 0) flags &= ~SQLITE_OPEN_URI;
    // SQLITE_OPEN_URI: ATTACH of a shard read-only (a plain path is still a plain path).
    if (sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_URI, nullptr) != SQLITE_OK) {
        const std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
        sqlite3_close_v2(db);
        throw Error(path, std::string(failure) + ": " + msg);
    }
    // Another connection (the GUI beside its training thread, a CLI run) may hold the write lock briefly.
    sqlite3_busy_timeout(db, 2000);
    return db;
}

/// A file: URI of `path` for sqlite3_open_v2 with SQLITE_OPEN_URI ('%', '?' and '#' escaped).
std::string fileUri(const std::string& path, const std::string& query) {
    std::string uri = "file:";
    for (const char c : std::filesystem::absolute(path).string()) {
        if (c == '%' || c == '?' || c == '#') {
            char buf[4];
            std::snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned char>(c));
            uri += buf;
        } else {
            uri += c;
        }
    }
    return uri + "?" + query;
}

/// Whether the file's header says rollback journal (byte 18 = 1; WAL is 2): shards, which a cluster task
/// may be writing while it is read.
bool rollbackJournalFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    char head[20] = {};
    in.read(head, sizeof head);
    return in.gcount() == sizeof head && head[18] == 1;
}

/// A read-only connection that creates nothing beside the file. With no -wal file there is no writer (a
/// WAL database keeps its -wal while any connection is open), so the file is opened immutable: no -shm or
/// -wal is made, and a read-only folder or mount is no obstacle. With a -wal (a writer is at work, or one
/// died), its content is needed: read-only mode shares the writer's -shm. A rollback-journal file (a
/// shard) is read with locks, since its writer has no -wal to show it is at work.
sqlite3* openReadOnly(const std::string& path) {
    std::error_code ec;
    const bool wal = std::filesystem::exists(path + "-wal", ec);
    sqlite3* db = nullptr;
    const std::string uri = fileUri(path, wal || rollbackJournalFile(path) ? "mode=ro" : "immutable=1");
    if (sqlite3_open_v2(uri.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr) != SQLITE_OK) {
        const std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
        sqlite3_close_v2(db);
        throw Error(path,
                    "cannot open read-only: " + msg +
                        (wal ? " (a writer's -wal file is beside it, and its -shm cannot be shared)" : ""));
    }
    sqlite3_busy_timeout(db, 2000);
    return db;
}

bool looksLikeSqlite(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::array<char, 16> head{};
    in.read(head.data(), head.size());
    return in.gcount() == 16 && std::string(head.data(), 16) == std::string("SQLite format 3\0", 16);
}

}  // namespace

namespace {

constexpr EnumName<RunState> kRunStateNames[] = {
    {RunState::Queued, "queued"},           {RunState::Running, "running"},
    {RunState::Paused, "paused"},           {RunState::Finished, "finished"},
    {RunState::Cancelled, "cancelled"},     {RunState::Diverged, "diverged"},
    {RunState::Interrupted, "interrupted"}, {RunState::Failed, "failed"},
    {RunState::Submitted, "submitted"}};
constexpr EnumName<RunStatus> kRunStatusNames[] = {
    {RunStatus::Running, "running"},        {RunStatus::Paused, "paused"},
    {RunStatus::Finished, "finished"},      {RunStatus::Cancelled, "cancelled"},
    {RunStatus::Diverged, "diverged"},      {RunStatus::Failed, "failed"},
    {RunStatus::Interrupted, "interrupted"}};

}  // namespace

const char* toString(RunState s) {
    return enumName(kRunStateNames, s);
}

RunState runStateFromString(const std::string& s) {
    return enumFromName(kRunStateNames, s, "status", "run status");
}

const char* toString(RunStatus s) {
    return enumName(kRunStatusNames, s);
}

RunState toRunState(RunStatus s) {
    switch (s) {
        case RunStatus::Running:
            return RunState::Running;
        case RunStatus::Paused:
            return RunState::Paused;
        case RunStatus::Finished:
            return RunState::Finished;
        case RunStatus::Cancelled:
            return RunState::Cancelled;
        case RunStatus::Diverged:
            return RunState::Diverged;
        case RunStatus::Failed:
            return RunState::Failed;
        case RunStatus::Interrupted:
            return RunState::Interrupted;
    }
    return RunState::Failed;
}

// ----- opening -----------------------------------------------------------------------------------------

Project::Project(std::string path, sqlite3* db, bool readOnly)
    : path_(std::move(path)), db_(db), readOnly_(readOnly) {}

Project::~Project() {
    if (db_) sqlite3_close_v2(db_);
}

std::unique_ptr<Project> Project::create(const std::string& path, const json& backbone) {
    if (std::filesystem::exists(path)) throw Error(path, "already exists (choose another name or open it)");
    return createFile(path, backbone.dump(), false);
}

std::unique_ptr<Project> Project::createFile(const std::string& path, const std::string& backbone,
                                             bool rollbackJournal) {
    sqlite3* db = openDatabase(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, "cannot create");
    std::unique_ptr<Project> p(new Project(path, db, false));
    exec(db,
         rollbackJournal
             ? "PRAGMA journal_mode = DELETE; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
             : "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
         path);
    {
        Transaction t(db, path);
        exec(db, "PRAGMA application_id = " + std::to_string(kProjectApplicationId) + ";", path);
        exec(db, "PRAGMA user_version = " + std::to_string(kProjectSchemaVersion) + ";", path);
        exec(db, kSchema, path);
        t.commit();
    }
    p->setMeta("created", utcNowIso());
    p->setMeta("app_version", appVersion());
    p->setMeta("backbone", backbone);
    if (rollbackJournal) p->setMeta("journal", "delete");  // kept so when the file is opened (open())
    return p;
}

std::unique_ptr<Project> Project::open(const std::string& path, Mode mode) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) throw Error(path, "no such project file");
    if (const std::string kind = nonRegularFileKind(path); !kind.empty())
        throw Error(path, "is " + kind + ", not a project file");
    // Checked before SQLite sees the file, so that nothing (not even a WAL file) is created for a file that
    // is not a database.
    if (!looksLikeSqlite(path)) throw Error(path, "not a project: the file is not an SQLite database");
    bool readOnly = mode == Mode::ReadOnly;
    std::vector<std::string> messages;
    if (!readOnly && access(path.c_str(), W_OK) != 0) {
        readOnly = true;
        messages.push_back("the file is not writable: opened read-only");
    }
    const std::string dir = std::filesystem::path(path).parent_path().string();
    if (!readOnly && access(dir.empty() ? "." : dir.c_str(), W_OK) != 0) {
        readOnly = true;  // WAL needs its -wal and -shm files beside the database
        messages.push_back("the folder is not writable: opened read-only");
    }
    sqlite3* db = readOnly ? openReadOnly(path) : openDatabase(path, SQLITE_OPEN_READWRITE, "cannot open");
    std::unique_ptr<Project> p(new Project(path, db, readOnly));
    p->messages_ = messages;
    p->validateSchema();
    if (!readOnly) {
        // A shard keeps its rollback journal: it may live on a network file system, where WAL must not.
        exec(db,
             p->meta("journal") == std::optional<std::string>("delete")
                 ? "PRAGMA journal_mode = DELETE; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
                 : "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
             path);
        p->migrate();
        p->markInterrupted();
    }
    return p;
}

void Project::validateSchema() {
    // Before anything else: is this an SQLite file at all, and one of ours?
    int64_t appId = 0, version = 0;
    try {
        Stmt a(db_, "PRAGMA application_id", path_);
        if (a.step()) appId = a.i64(0);
        Stmt v(db_, "PRAGMA user_version", path_);
        if (v.step()) version = v.i64(0);
    } catch (const Error&) {
        throw Error(path_, std::string("not a project: ") + sqlite3_errmsg(db_));
    }
    if (appId != kProjectApplicationId)
        throw Error(path_, "not a project: an SQLite database without the PEFT Workbench application id");
    if (version > kProjectSchemaVersion)
        throw Error(path_, "written by a newer PEFT Workbench (project schema " + std::to_string(version) +
                               ", this version reads up to " + std::to_string(kProjectSchemaVersion) +
                               "): update the workbench to open it");
    if (version < 1)
        throw Error(path_, "project schema version " + std::to_string(version) + " is not valid");
    // Older versions are read as they are and migrated when opened for writing (migrate()).
    {
        Stmt ic(db_, "PRAGMA quick_check", path_);
        if (ic.step() && ic.text(0) != "ok") {
            // SQLite's report can run to thousands of lines ("Page N is never used"): the first two say it.
            std::string what = ic.text(0);
            size_t cut = what.find('\n');
            if (cut != std::string::npos) cut = what.find('\n', cut + 1);
            what = what.substr(0, std::min<size_t>(cut, 300));
            std::replace(what.begin(), what.end(), '\n', ' ');
            throw Error(path_, "the database is damaged: " + what);
        }
    }
    for (const auto& [table, cols] : requiredColumns()) {
        Stmt s(db_, "PRAGMA table_info(" + table + ")", path_);
        std::set<std::string> have;
        while (s.step())
            have.insert(s.text(1));
        if (have.empty()) throw Error(path_, "not a project: table '" + table + "' is missing");
        for (const auto& c : cols)
            if (!have.count(c)) throw Error(path_, "table '" + table + "' lacks column '" + c + "'");
    }
}

void Project::migrate() {
    if (schemaVersion() >= kProjectSchemaVersion) return;
    // 1 → 2: the runs table's status check admits 'submitted'. SQLite cannot alter a check, so the table is
    // rebuilt (same columns, same order) with foreign keys off, in one transaction.
    exec(db_, "PRAGMA foreign_keys = OFF", path_);
    try {
        Transaction t(db_, path_);
        std::string create = kSchema;
        const auto begin = create.find("CREATE TABLE IF NOT EXISTS runs (");
        const auto end = create.find(");", begin);
        create = create.substr(begin, end + 2 - begin);
        create.replace(0, std::string("CREATE TABLE IF NOT EXISTS runs").size(), "CREATE TABLE runs_v2");
        exec(db_, create, path_);
        exec(db_,
             "INSERT INTO runs_v2 SELECT * FROM runs; DROP TABLE runs; ALTER TABLE runs_v2 RENAME TO runs;",
             path_);
        exec(db_, "PRAGMA user_version = " + std::to_string(kProjectSchemaVersion), path_);
        t.commit();
    } catch (...) {
        exec(db_, "PRAGMA foreign_keys = ON", path_);
        throw;
    }
    exec(db_, "PRAGMA foreign_keys = ON", path_);
    messages_.push_back("migrated from project schema 1 to " + std::to_string(kProjectSchemaVersion) +
                        " (runs may be submitted to a cluster)");
}

void Project::markInterrupted() {
    // A run is interrupted when its owner process is gone: same host and no such pid, or (another host)
    // no heartbeat for a minute.
    Stmt s(db_,
           std::string("SELECT id, owner, heartbeat, steps_done, ") + kResumableStep +
               " FROM runs r WHERE status IN ('running', 'paused')",
           path_);
    std::vector<std::pair<int64_t, std::string>> dead;
    while (s.step())
        if (!ownerAlive(s.text(1), s.f64(2), false))
            dead.emplace_back(
                s.i64(0), interruptedMessage(s.i64(3), s.isNull(4) ? std::nullopt : std::optional(s.i64(4))));
    for (const auto& [id, message] : dead) {
        setRunState(id, RunState::Interrupted, message);
        messages_.push_back("run " + std::to_string(id) + " was interrupted: " + message);
    }
}

void Project::checkWritable() const {
    if (readOnly_) throw Error(path_, "the project is open read-only");
}

int Project::schemaVersion() const {
    Stmt v(db_, "PRAGMA user_version", path_);
    return v.step() ? int(v.i64(0)) : 0;
}

// ----- meta --------------------------------------------------------------------------------------------

std::optional<std::string> Project::meta(const std::string& key) const {
    Stmt s(db_, "SELECT value FROM meta WHERE key = ?", path_);
    s.bind(1, key);
    if (!s.step()) return std::nullopt;
    return s.text(0);
}

std::vector<std::string> Project::metaKeys(const std::string& prefix) const {
    // Bytes compared (not LIKE, whose '%' and '_' a prefix may hold; substr of a blob counts bytes).
    Stmt s(db_, "SELECT key FROM meta WHERE substr(CAST(key AS BLOB), 1, ?) = CAST(? AS BLOB) ORDER BY key",
           path_);
    s.bind(1, int64_t(prefix.size())).bind(2, prefix);
    std::vector<std::string> keys;
    while (s.step())
        keys.push_back(s.text(0));
    return keys;
}

void Project::setMeta(const std::string& key, const std::string& value) {
    checkWritable();
    Stmt s(
        db_,
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        path_);
    s.bind(1, key).bind(2, value);
    s.step();
}

json Project::backbone() const {
    const auto b = meta("backbone");
    if (!b) return json::object();
    return parseJsonColumn(*b, path_ + ": meta 'backbone'");
}

// ----- datasets ----------------------------------------------------------------------------------------

int64_t Project::addDataset(const DatasetRecord& d) {
    checkWritable();
    Stmt s(db_,
           "INSERT INTO datasets (name, source, path, content_hash, mapping, labels, created) "
           "VALUES (?, ?, ?, ?, ?, ?, ?)",
           path_);
    s.bind(1, d.name).bind(2, d.source).bind(3, d.path).bind(4, d.content_hash);
    s.bind(5, (d.mapping.is_null() ? json::object() : d.mapping).dump()).bind(6, json(d.labels).dump());
    s.bind(7, utcNowIso());
    s.step();
    return sqlite3_last_insert_rowid(db_);
}

namespace {

const char* const kDatasetColumns = "id, name, source, path, content_hash, mapping, labels";

/// One row of a SELECT of kDatasetColumns.
DatasetRecord readDataset(Stmt& s, const std::string& path_) {
    DatasetRecord d;
    d.id = s.i64(0);
    d.name = s.text(1);
    d.source = s.text(2);
    d.path = s.text(3);
    d.content_hash = s.text(4);
    const std::string where = path_ + ": dataset " + std::to_string(d.id);
    d.mapping = parseJsonColumn(s.text(5), where + " mapping");
    const json labels = parseJsonColumn(s.text(6), where + " labels");
    if (!labels.is_array()) throw Error(where, "labels are not a JSON array");
    for (const auto& l : labels)
        d.labels.push_back(l.is_string() ? l.get<std::string>() : l.dump());
    return d;
}

}  // namespace

std::vector<DatasetRecord> Project::datasets() const {
    Stmt s(db_, std::string("SELECT ") + kDatasetColumns + " FROM datasets ORDER BY id", path_);
    std::vector<DatasetRecord> out;
    while (s.step())
        out.push_back(readDataset(s, path_));
    return out;
}

DatasetRecord Project::dataset(int64_t id) const {
    Stmt s(db_, std::string("SELECT ") + kDatasetColumns + " FROM datasets WHERE id = ?", path_);
    s.bind(1, id);
    if (!s.step()) throw Error(path_, "no dataset " + std::to_string(id) + " in the project");
    return readDataset(s, path_);
}

// ----- runs --------------------------------------------------------------------------------------------

int64_t Project::addRun(const RunRecord& r) {
    checkWritable();
    Stmt s(
        db_,
        "INSERT INTO runs (name, preset, spec, train_config, dataset_id, seed, device, status, steps_total, "
        "created, notes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        path_);
    s.bind(1, r.name).bind(2, r.preset.empty() ? std::string("custom") : r.preset);
    s.bind(3, r.spec.dump()).bind(4, r.train_config.dump());
    if (r.dataset_id)
        s.bind(5, *r.dataset_id);
    else
        s.bindNull(5);
    s.bind(6, int64_t(r.seed)).bind(7, r.device).bind(8, std::string(toString(r.state)));
    s.bind(9, r.steps_total).bind(10, utcNowIso()).bind(11, r.notes);
    s.step();
    return sqlite3_last_insert_rowid(db_);
}

namespace {
const std::string kRunColumns =
    std::string(
        "r.id, r.name, r.preset, r.spec, r.train_config, r.dataset_id, r.seed, r.device, r.status, "
        "r.message, r.steps_total, r.steps_done, r.created, r.started, r.finished, r.notes, "
        "s.metric_name, s.best_dev_metric, s.best_step, s.seconds, s.peak_memory_bytes, "
        "s.trained_params, s.stored_params, s.backbone_params, r.owner, r.heartbeat, ") +
    kResumableStep + " FROM runs r LEFT JOIN summaries s ON s.run_id = r.id";
}

static RunRecord readRun(const Stmt& s, const std::string& file) {
    RunRecord r;
    r.id = s.i64(0);
    const std::string where = file + ": run " + std::to_string(r.id);
    r.name = s.text(1);
    r.preset = s.text(2);
    r.spec = parseJsonColumn(s.text(3), where + " spec");
    r.train_config = parseJsonColumn(s.text(4), where + " train_config");
    if (!s.isNull(5)) r.dataset_id = s.i64(5);
    r.seed = uint64_t(s.i64(6));
    r.device = s.text(7);
    try {
        r.state = runStateFromString(s.text(8));
    } catch (const Error& e) {
        throw Error(where, e.reason());
    }
    r.message = s.text(9);
    r.steps_total = s.i64(10);
    r.steps_done = s.i64(11);
    r.created = s.text(12);
    r.started = s.text(13);
    r.finished = s.text(14);
    r.notes = s.text(15);
    if (!s.isNull(16)) {
        RunSummary m;
        m.metric_name = s.text(16);
        m.best_dev_metric = s.f64(17);
        m.best_step = s.i64(18);
        m.seconds = s.f64(19);
        m.peak_memory_bytes = s.i64(20);
        m.trained_params = s.i64(21);
        m.stored_params = s.i64(22);
        m.backbone_params = s.i64(23);
        r.summary = m;
    }
    if (!s.isNull(26)) r.resumable_step = s.i64(26);
    // Liveness on read: a run whose process is gone reads as interrupted in every view, read-only ones too
    // (a writable open also stores it, in markInterrupted).
    if ((r.state == RunState::Running || r.state == RunState::Paused) &&
        !ownerAlive(s.text(24), s.f64(25), true)) {
        r.state = RunState::Interrupted;
        r.message = interruptedMessage(r.steps_done, s.isNull(26) ? std::nullopt : std::optional(s.i64(26)));
    }
    return r;
}

std::vector<RunRecord> Project::runs() const {
    Stmt s(db_, std::string("SELECT ") + kRunColumns + " ORDER BY r.id", path_);
    std::vector<RunRecord> out;
    while (s.step())
        out.push_back(readRun(s, path_));
    return out;
}

RunRecord Project::run(int64_t id) const {
    Stmt s(db_, std::string("SELECT ") + kRunColumns + " WHERE r.id = ?", path_);
    s.bind(1, id);
    if (!s.step()) throw Error(path_, "no run with id " + std::to_string(id));
    return readRun(s, path_);
}

void Project::setRunState(int64_t id, RunState st, const std::string& message) {
    checkWritable();
    const bool starts = st == RunState::Running;
    const bool ends = st == RunState::Finished || st == RunState::Cancelled || st == RunState::Diverged ||
                      st == RunState::Failed || st == RunState::Interrupted;
    Stmt s(db_,
           std::string("UPDATE runs SET status = ?1, message = ?2") +
               (starts ? ", started = CASE WHEN started = '' THEN ?3 ELSE started END, finished = ''" : "") +
               (ends ? ", finished = ?3" : "") + " WHERE id = ?4",
           path_);
    s.bind(1, std::string(toString(st))).bind(2, message).bind(3, utcNowIso()).bind(4, id);
    s.step();
    if (sqlite3_changes(db_) == 0) throw Error(path_, "no run with id " + std::to_string(id));
}

void Project::setStepsDone(int64_t id, int64_t steps) {
    checkWritable();
    Stmt s(db_, "UPDATE runs SET steps_done = ? WHERE id = ?", path_);
    s.bind(1, steps).bind(2, id);
    s.step();
}

void Project::setNotes(int64_t id, const std::string& notes) {
    checkWritable();
    Stmt s(db_, "UPDATE runs SET notes = ? WHERE id = ?", path_);
    s.bind(1, notes).bind(2, id);
    s.step();
    if (sqlite3_changes(db_) == 0) throw Error(path_, "no run with id " + std::to_string(id));
}

void Project::setRunDevice(int64_t id, const std::string& device) {
    checkWritable();
    json tc = run(id).train_config;
    tc["device"] = device;
    Stmt s(db_, "UPDATE runs SET device = ?, train_config = ? WHERE id = ?", path_);
    s.bind(1, device).bind(2, tc.dump()).bind(3, id);
    s.step();
}

void Project::renameRun(int64_t id, const std::string& name) {
    checkWritable();
    if (name.empty()) throw Error(path_, "a run's name cannot be empty");
    Stmt s(db_, "UPDATE runs SET name = ? WHERE id = ?", path_);
    s.bind(1, name).bind(2, id);
    s.step();
    if (sqlite3_changes(db_) == 0) throw Error(path_, "no run with id " + std::to_string(id));
}

namespace {

/// Deletes what a run produced (metrics, checkpoints, summary) inside the caller's transaction.
void deleteRunOutputs(sqlite3* db, int64_t id, const std::string& path) {
    for (const char* sql :
         {"DELETE FROM metrics WHERE run_id = ?", "DELETE FROM checkpoints WHERE run_id = ?",
          "DELETE FROM summaries WHERE run_id = ?"}) {
        Stmt s(db, sql, path);
        s.bind(1, id);
        s.step();
    }
}

}  // namespace

void Project::requeueRun(int64_t id) {
    checkWritable();
    const RunRecord r = run(id);  // liveness computed: a dead owner's run reads as interrupted
    if (r.state == RunState::Running || r.state == RunState::Paused)
        throw Error(path_, "run " + std::to_string(id) + " is training: stop it first");
    Transaction t(db_, path_);
    deleteRunOutputs(db_, id, path_);
    Stmt s(db_,
           "UPDATE runs SET status = 'queued', message = '', steps_done = 0, started = '', finished = '', "
           "owner = '', heartbeat = 0 WHERE id = ?",
           path_);
    s.bind(1, id);
    s.step();
    t.commit();
}

void Project::deleteRun(int64_t id) {
    checkWritable();
    const RunRecord r = run(id);
    if (r.state == RunState::Running || r.state == RunState::Paused)
        throw Error(path_, "run " + std::to_string(id) + " is training: stop it first");
    Transaction t(db_, path_);
    deleteRunOutputs(db_, id, path_);
    Stmt s(db_, "DELETE FROM runs WHERE id = ?", path_);
    s.bind(1, id);
    s.step();
    t.commit();
}

int64_t Project::dropCheckpoints() {
    checkWritable();
    Transaction t(db_, path_);
    Stmt s(db_,
           "DELETE FROM checkpoints WHERE run_id NOT IN (SELECT id FROM runs WHERE status IN ('running', "
           "'paused'))",
           path_);
    s.step();
    const int64_t n = sqlite3_changes(db_);
    t.commit();
    return n;
}

void Project::compact() {
    checkWritable();
    exec(db_, "VACUUM", path_);
    // The smaller file now, not when the write-ahead log is folded in later.
    exec(db_, "PRAGMA wal_checkpoint(TRUNCATE)", path_);
}

void Project::setSummary(int64_t id, const RunSummary& m) {
    checkWritable();
    Stmt s(db_,
           "INSERT OR REPLACE INTO summaries (run_id, metric_name, best_dev_metric, best_step, seconds, "
           "peak_memory_bytes, trained_params, stored_params, backbone_params) VALUES (?, ?, ?, ?, ?, ?, ?, "
           "?, ?)",
           path_);
    s.bind(1, id).bind(2, m.metric_name).bind(3, m.best_dev_metric).bind(4, m.best_step).bind(5, m.seconds);
    s.bind(6, m.peak_memory_bytes)
        .bind(7, m.trained_params)
        .bind(8, m.stored_params)
        .bind(9, m.backbone_params);
    s.step();
}

void Project::heartbeat(int64_t id) {
    checkWritable();
    Stmt s(db_, "UPDATE runs SET owner = ?, heartbeat = ? WHERE id = ?", path_);
    s.bind(1, ownerTag()).bind(2, nowEpoch()).bind(3, id);
    s.step();
}

// ----- metrics -----------------------------------------------------------------------------------------

void Project::appendMetrics(int64_t run, const std::vector<MetricPoint>& points) {
    checkWritable();
    if (points.empty()) return;
    Transaction t(db_, path_);
    Stmt s(db_, "INSERT INTO metrics (run_id, step, wall_time, split, name, value) VALUES (?, ?, ?, ?, ?, ?)",
           path_);
    for (const auto& p : points) {
        s.bind(1, run).bind(2, p.step).bind(3, p.wall_time).bind(4, p.split).bind(5, p.name);
        if (std::isfinite(p.value))
            s.bind(6, p.value);
        else
            s.bindNull(6);  // SQLite stores no NaN; a diverged loss is NULL
        s.step();
        s.reset();
    }
    t.commit();
}

std::vector<MetricRow> Project::metrics(int64_t run, const std::string& name) const {
    Stmt s(db_,
           name.empty()
               ? "SELECT step, wall_time, split, name, value FROM metrics WHERE run_id = ? ORDER BY rowid"
               : "SELECT step, wall_time, split, name, value FROM metrics WHERE run_id = ? AND name = ? "
                 "ORDER BY rowid",
           path_);
    s.bind(1, run);
    if (!name.empty()) s.bind(2, name);
    std::vector<MetricRow> out;
    while (s.step())
        out.push_back({s.i64(0), s.f64(1), s.text(2), s.text(3),
                       s.isNull(4) ? std::numeric_limits<double>::quiet_NaN() : s.f64(4)});
    return out;
}

int64_t Project::metricCount(int64_t run) const {
    Stmt s(db_, "SELECT count(*) FROM metrics WHERE run_id = ?", path_);
    s.bind(1, run);
    return s.step() ? s.i64(0) : 0;
}

void Project::truncateMetricsAfter(int64_t run, int64_t step) {
    checkWritable();
    Stmt s(db_, "DELETE FROM metrics WHERE run_id = ? AND step > ?", path_);
    s.bind(1, run).bind(2, step);
    s.step();
}

// ----- checkpoints -------------------------------------------------------------------------------------

void Project::saveCheckpoint(const CheckpointRecord& c) {
    checkWritable();
    if (c.kind != "eval" && c.kind != "best") throw Error("checkpoint", "kind must be eval or best");
    Stmt s(db_,
           "INSERT OR REPLACE INTO checkpoints (run_id, step, kind, metric, tensors, resume, created) "
           "VALUES (?, ?, ?, ?, ?, ?, ?)",
           path_);
    s.bind(1, c.run_id).bind(2, c.step).bind(3, c.kind);
    if (c.metric && std::isfinite(*c.metric))
        s.bind(4, *c.metric);
    else
        s.bindNull(4);
    s.bindBlob(5, c.tensors).bindBlob(6, c.resume).bind(7, utcNowIso());
    s.step();
}

std::optional<CheckpointRecord> Project::checkpoint(int64_t run, const std::string& kind) const {
    Stmt s(db_, "SELECT id, step, metric, tensors, resume FROM checkpoints WHERE run_id = ? AND kind = ?",
           path_);
    s.bind(1, run).bind(2, kind);
    if (!s.step()) return std::nullopt;
    CheckpointRecord c;
    c.id = s.i64(0);
    c.run_id = run;
    c.kind = kind;
    c.step = s.i64(1);
    if (!s.isNull(2)) c.metric = s.f64(2);
    c.tensors = s.blob(3);
    c.resume = s.blob(4);
    return c;
}

// ----- shards (cluster tasks) -------------------------------------------------------------------------

std::string Project::newProjectId() {
    std::random_device rd;
    char buf[33];
    std::snprintf(buf, sizeof buf, "%08x%08x%08x%08x", rd(), rd(), rd(), rd());
    return buf;
}

std::string Project::projectId() {
    if (auto id = meta("project_id")) return *id;
    const std::string id = newProjectId();
    setMeta("project_id", id);
    return id;
}

void Project::markSubmitted(const std::map<int64_t, std::string>& infoByRun, const std::string& projectId) {
    checkWritable();
    Transaction t(db_, path_);
    if (!meta("project_id")) setMeta("project_id", projectId);
    for (const auto& [id, info] : infoByRun) {
        Stmt s(db_,
               "UPDATE runs SET status = 'submitted', message = '', owner = '', heartbeat = 0 WHERE id = ?",
               path_);
        s.bind(1, id);
        s.step();
        if (sqlite3_changes(db_) == 0) throw Error(path_, "no run with id " + std::to_string(id));
        setMeta("slurm.run." + std::to_string(id), info);
        Stmt d(db_, "DELETE FROM meta WHERE key = ?", path_);
        d.bind(1, "shard.merged." + std::to_string(id));
        d.step();
    }
    t.commit();
}

namespace {

/// ATTACH … AS alias for the lifetime of the object (DETACH after, also when an exception leaves).
class Attached {
public:
    Attached(sqlite3* db, const std::string& file, const std::string& alias, const std::string& where)
        : db_(db), alias_(alias) {
        Stmt a(db, "ATTACH DATABASE ? AS " + alias, where);
        a.bind(1, file);
        a.step();
    }
    ~Attached() { sqlite3_exec(db_, ("DETACH DATABASE " + alias_).c_str(), nullptr, nullptr, nullptr); }
    Attached(const Attached&) = delete;
    Attached& operator=(const Attached&) = delete;

private:
    sqlite3* db_;
    std::string alias_;
};

std::string idList(const std::vector<int64_t>& ids) {
    std::string out;
    for (const int64_t id : ids)
        out += (out.empty() ? "" : ", ") + std::to_string(id);
    return out;
}

/// What a run's copy in `schema` has reached, as one comparable text: status, steps, metric points,
/// checkpoint steps. Equal fingerprints: nothing new to merge.
std::string runFingerprint(sqlite3* db, const std::string& schema, int64_t run, const std::string& where) {
    Stmt s(db,
           "SELECT r.status, r.steps_done, r.finished, (SELECT count(*) FROM " + schema +
               ".metrics m WHERE m.run_id = r.id), (SELECT group_concat(kind || step, ',') FROM " + schema +
               ".checkpoints c WHERE c.run_id = r.id) FROM " + schema + ".runs r WHERE r.id = ?",
           where);
    s.bind(1, run);
    if (!s.step()) return {};
    return s.text(0) + "|" + std::to_string(s.i64(1)) + "|" + s.text(2) + "|" + std::to_string(s.i64(3)) +
           "|" + s.text(4);
}

}  // namespace

void Project::writeShard(const std::string& path, const std::vector<int64_t>& ids, const json& info) const {
    if (std::filesystem::exists(path)) throw Error(path, "already exists: a shard is never overwritten");
    for (const int64_t id : ids)
        run(id);  // each exists
    if (!info.is_object() || !info.contains("project_id") || !info["project_id"].is_string())
        throw Error(path, "a shard must name its project (project_id)");
    json shardInfo = info;
    shardInfo["runs"] = ids;
    try {
        // The shard's schema through its own connection (kSchema names no database), rollback journal.
        createFile(path, meta("backbone").value_or("{}"), true)->setMeta("shard", shardInfo.dump());
        // The rows, copied by this connection (the shard's own write lock only; the project is only read).
        Attached a(db_, path, "shard", path);
        Transaction t(db_, path_);
        const std::string in = "(" + idList(ids) + ")";
        exec(db_,
             "INSERT INTO shard.datasets SELECT * FROM main.datasets WHERE id IN (SELECT dataset_id FROM "
             "main.runs WHERE id IN " +
                 in +
                 ");"
                 "INSERT INTO shard.runs SELECT * FROM main.runs WHERE id IN " +
                 in +
                 ";"
                 "UPDATE shard.runs SET status = 'queued' WHERE status = 'submitted';"
                 "INSERT INTO shard.metrics SELECT * FROM main.metrics WHERE run_id IN " +
                 in +
                 ";"
                 "INSERT INTO shard.checkpoints SELECT * FROM main.checkpoints WHERE run_id IN " +
                 in +
                 ";"
                 "INSERT INTO shard.summaries SELECT * FROM main.summaries WHERE run_id IN " +
                 in + ";",
             path);
        t.commit();
    } catch (...) {
        std::error_code ec;
        std::filesystem::remove(path, ec);
        std::filesystem::remove(path + "-journal", ec);
        throw;
    }
}

Project::ShardMerge Project::mergeShard(const std::string& path) {
    checkWritable();
    ShardMerge out;
    out.shard = path;
    // Read whole first, through its own read-only connection: a file that is not a project, is damaged or
    // was cut short by a killed task is refused before the project is touched.
    std::vector<RunRecord> shardRuns;
    json info;
    try {
        const auto shard = open(path, Mode::ReadOnly);
        const auto text = shard->meta("shard");
        if (!text) throw Error(path, "not a shard: a project without shard information (meta 'shard')");
        info = parseJsonColumn(*text, path + ": meta 'shard'");
        if (!info.is_object() || !info.contains("project_id") || !info["project_id"].is_string())
            throw Error(path, "its shard information names no project id");
        shardRuns = shard->runs();
    } catch (const std::exception& e) {
        out.refused = e.what();
        return out;
    }
    const auto refuse = [&](const std::string& reason) {
        out.refused = path + ": " + reason;
        return out;
    };
    const std::string mine = projectId();
    if (info["project_id"] != mine)
        return refuse("a shard of another project (id " + info["project_id"].get<std::string>() +
                      "; this project's is " + mine + ")");
    for (const RunRecord& sr : shardRuns) {
        RunRecord mr;
        try {
            mr = run(sr.id);
        } catch (const Error&) {
            return refuse("run " + std::to_string(sr.id) + " is not in this project");
        }
        std::string differs;
        if (sr.spec != mr.spec)
            differs = "spec";
        else if (sr.train_config != mr.train_config)
            differs = "training settings";
        else if (sr.seed != mr.seed)
            differs = "seed";
        else if (sr.dataset_id != mr.dataset_id)
            differs = "dataset";
        if (!differs.empty())
            return refuse("run " + std::to_string(sr.id) + " has another " + differs + " than the project's");
    }
    Attached a(db_, fileUri(path, "mode=ro"), "shard", path);
    Transaction t(db_, path_);
    for (const RunRecord& sr : shardRuns) {
        const RunRecord mr = run(sr.id);
        const std::string id = std::to_string(sr.id);
        if (sr.state == RunState::Queued && mr.state == RunState::Submitted) {
            out.unchanged.push_back(sr.id);  // its task has not started
            continue;
        }
        const std::string shardPrint = runFingerprint(db_, "shard", sr.id, path);
        if (meta("shard.merged." + id) == std::optional<std::string>(path + "|" + shardPrint)) {
            out.unchanged.push_back(sr.id);
            continue;
        }
        if ((mr.state == RunState::Running || mr.state == RunState::Paused) &&
            !meta("shard.merged." + id).has_value()) {
            out.skipped_runs.push_back("run " + id + ": it is training here");
            continue;
        }
        if (sr.steps_done < mr.steps_done && mr.state != RunState::Submitted) {
            out.skipped_runs.push_back("run " + id + ": the shard is behind the project's copy (step " +
                                       std::to_string(sr.steps_done) + " < " + std::to_string(mr.steps_done) +
                                       ")");
            continue;
        }
        deleteRunOutputs(db_, sr.id, path_);
        for (const std::string sql :
             {"INSERT INTO main.metrics SELECT * FROM shard.metrics WHERE run_id = ?1",
              "INSERT INTO main.checkpoints (run_id, step, kind, metric, tensors, resume, created) SELECT "
              "run_id, step, kind, metric, tensors, resume, created FROM shard.checkpoints WHERE run_id = ?1",
              "INSERT INTO main.summaries SELECT * FROM shard.summaries WHERE run_id = ?1",
              // Until it has ended, the run stays 'submitted' here (the cluster has it; its progress is in
              // the steps and metrics): no local queue may take it for an interrupted run to resume.
              "UPDATE main.runs SET (status, message, steps_total, steps_done, started, finished, owner, "
              "heartbeat) = (SELECT CASE WHEN status IN ('queued', 'running', 'paused', 'interrupted') THEN "
              "'submitted' ELSE status END, message, steps_total, steps_done, started, finished, '', 0 FROM "
              "shard.runs WHERE id = ?1) WHERE id = ?1"}) {
            Stmt s(db_, sql, path);
            s.bind(1, sr.id);
            s.step();
        }
        setMeta("shard.merged." + id, path + "|" + shardPrint);
        out.merged.push_back(sr.id);
    }
    t.commit();
    return out;
}

// ----- save as -----------------------------------------------------------------------------------------

std::unique_ptr<Project> Project::saveAs(const std::string& path) const {
    if (std::filesystem::exists(path)) throw Error(path, "already exists (choose another name)");
    sqlite3* dst = openDatabase(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, "cannot create");
    sqlite3_backup* b = sqlite3_backup_init(dst, "main", db_, "main");
    int rc = b ? sqlite3_backup_step(b, -1) : SQLITE_ERROR;
    if (b) sqlite3_backup_finish(b);
    const std::string msg = sqlite3_errmsg(dst);
    sqlite3_close_v2(dst);
    if (rc != SQLITE_DONE) {
        std::filesystem::remove(path);
        throw Error(path, "copy failed: " + msg);
    }
    return open(path);
}

}  // namespace peft
