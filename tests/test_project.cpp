// SPDX-License-Identifier: GPL-3.0-or-later
// Experiment projects: the SQLite file round-trips runs, metrics, checkpoints and notes; a resumed run
// repeats the uninterrupted run step for step; a training process killed with SIGKILL leaves a file that
// reopens with the run marked interrupted and resumes to the end; bad files are refused without being
// modified.
#include <QtTest>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <thread>
#include <variant>

#include <sqlite3.h>

#include "io/backbone.h"
#include "io/safetensors.h"
#include "model/config.h"
#include "model/transformer.h"
#include "peft/presets.h"
#include "project/project.h"
#include "project/run_record.h"
#include "run/executor.h"
#include "train/trainer.h"
#include "util/error.h"
#include "util/field_count.h"

#include "test_support.h"

using namespace peft;
namespace fs = std::filesystem;

namespace {

Dataset parityData() {
    std::mt19937_64 rng(3);
    Dataset d;
    d.name = "has-7";
    d.label_names = {"no", "yes"};
    auto make = [&](std::vector<Example>& out, int n) {
        for (int i = 0; i < n; ++i) {
            Example e;
            for (int t = 0; t < 6; ++t)
                e.ids.push_back(1 + int64_t(rng() % 20));
            e.label = std::count(e.ids.begin(), e.ids.end(), 7) > 0;
            out.push_back(e);
        }
    };
    make(d.train, 100);  // 100 examples, batch 16: epochs wrap and reshuffle before step 20
    make(d.dev, 32);
    return d;
}

std::string fileBytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

void writeBytes(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
}

/// Captures every checkpoint and the train losses.
struct Capture : TrainObserver {
    std::map<int64_t, TrainCheckpoint> checkpoints;
    std::map<int64_t, double> losses;
    bool wantsCheckpoints() const override { return true; }
    void onCheckpoint(const TrainCheckpoint& c, bool) override { checkpoints[c.step] = c; }
    void onMetric(const MetricPoint& p) override {
        if (p.split == "train" && p.name == "loss") losses[p.step] = p.value;
    }
};

std::string tempDir() {
    const fs::path d = fs::temp_directory_path() / ("peft-project-test-" + std::to_string(getpid()));
    fs::create_directories(d);
    return d.string();
}

int runPeftwb(const std::vector<std::string>& args) {
    std::string cmd = PEFTWB_PATH;
    for (const auto& a : args)
        cmd += " '" + a + "'";
    return std::system((cmd + " >/dev/null 2>&1").c_str());
}

}  // namespace

class TestProject : public QObject {
    Q_OBJECT
    std::string dir_;

private Q_SLOTS:
    void initTestCase() { dir_ = tempDir(); }

    // The field counter the TrainConfig table is checked against counts what it should (so the table's
    // static_assert can fail).
    void fieldCounterCountsAggregateFields() {
        struct Three {
            int a = 1;
            std::string b;
            double c = 0;
        };
        struct Five {
            int64_t a;
            bool b;
            std::string c, d;
            Schedule e;
        };
        QCOMPARE(aggregateFieldCount<Three>(), size_t(3));
        QCOMPARE(aggregateFieldCount<Five>(), size_t(5));
        QCOMPARE(trainConfigFields().size(), aggregateFieldCount<TrainConfig>());
    }

    // Every training setting survives the run record, field by field: set each one alone to a value other
    // than its default, write it into a project, read the record back. A field the table forgets, or two
    // rows naming one member, fail here.
    void everyTrainConfigFieldRoundTrips() {
        const std::string path = dir_ + "/fields.peftproj";
        fs::remove(path);
        auto p = Project::create(path, {{"kind", "tiny-random"}});
        std::set<std::string> keys, flags;
        for (const TrainConfigField& f : trainConfigFields()) {
            QVERIFY2(keys.insert(f.key).second && flags.insert(f.flag).second, f.key);
            const TrainConfig tc = withFieldChanged(TrainConfig{}, f);
            QVERIFY2(tc != TrainConfig{}, f.key);  // equality sees the field
            const nlohmann::json j = trainConfigToJson(tc);
            QCOMPARE(j.size(), trainConfigFields().size());
            QVERIFY2(j.at(f.key) != trainConfigToJson(TrainConfig{}).at(f.key), f.key);
            QVERIFY2(trainConfigFromJson(j, "test") == tc, f.key);
            RunRecipe r;
            r.spec = resolvePreset(presetById("lora"), defaultModelConfig());
            r.train = tc;
            r.data.task = "sentiment";
            r.backbone.kind = BackboneRef::Kind::TinyRandom;
            const int64_t id = addRun(*p, f.key, "lora", r);
            const RunRecipe back = runRecipe(*p, p->run(id));
            QVERIFY2(back.train == tc, f.key);
            QVERIFY2(runRecipeFromJson(runRecipeToJson(back), "test").train == tc, f.key);
        }
    }

    // The record refuses what it cannot honour and reads what earlier versions wrote.
    void runRecordRefusesUnknownAndReadsLegacy() {
        const std::string path = dir_ + "/legacy.peftproj";
        fs::remove(path);
        auto p = Project::create(path, {{"id", "default"}});  // an earlier version's backbone reference
        DatasetRecord d;
        d.name = "entailment";
        d.source = "builtin";
        const int64_t ds = p->addDataset(d);
        RunRecord legacy;
        legacy.name = "old";
        legacy.preset = "lora";
        legacy.spec = resolvePreset(presetById("lora"), defaultModelConfig());
        legacy.train_config = {{"steps", 50}, {"lr", 0.002}, {"train_size", 300}, {"argv", {"train"}}};
        legacy.dataset_id = ds;
        legacy.seed = 4;
        const RunRecipe r = runRecipe(*p, p->run(p->addRun(legacy)));
        QCOMPARE(r.data.task, std::string("entailment"));
        QCOMPARE(r.data.train_size, int64_t(300));
        QCOMPARE(r.train.steps, int64_t(50));
        QCOMPARE(r.train.seed, uint64_t(4));
        QVERIFY(r.backbone.kind == BackboneRef::Kind::Default);
        QCOMPARE(r.train.label_smoothing, 0.0);  // absent fields keep their defaults

        legacy.train_config["fp8_amax_history"] = 16;  // a setting from a newer version
        try {
            runRecipe(*p, p->run(p->addRun(legacy)));
            QFAIL("an unknown training setting was accepted");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("train_config.fp8_amax_history") != std::string::npos,
                     e.what());
        }
        nlohmann::json j = runRecipeToJson(r);
        j["train"]["steps"] = 2.5;
        QVERIFY_THROWS_EXCEPTION(Error, runRecipeFromJson(j, "record"));
        j = runRecipeToJson(r);
        j["backbone"]["kind"] = "cloud";
        QVERIFY_THROWS_EXCEPTION(Error, runRecipeFromJson(j, "record"));
    }
    void cleanupTestCase() { fs::remove_all(dir_); }

    void roundTripsRunsMetricsCheckpointsNotes() {
        const std::string path = dir_ + "/a.peftproj";
        {
            auto p = Project::create(path, {{"id", "default"}});
            QCOMPARE(p->schemaVersion(), kProjectSchemaVersion);
            DatasetRecord d;
            d.name = "sentiment";
            d.source = "builtin";
            d.labels = {"negative", "positive"};
            const int64_t ds = p->addDataset(d);
            RunRecord r;
            r.name = "LoRA r=8";
            r.preset = "lora";
            r.spec = {{"name", "lora"}, {"modifications", nlohmann::json::array()}};
            r.train_config = {{"steps", 100}};
            r.dataset_id = ds;
            r.seed = 42;
            r.steps_total = 100;
            const int64_t id = p->addRun(r);
            p->setRunState(id, RunState::Running);
            p->appendMetrics(id, {{1, "train", "loss", 0.69, 0.1},
                                  {2, "train", "loss", std::nan(""), 0.2},
                                  {2, "dev", "accuracy", 0.75, 0.3}});
            CheckpointRecord c;
            c.run_id = id;
            c.step = 2;
            c.kind = "best";
            c.metric = 0.75;
            c.tensors = serializeSafetensors({{"w", torch::arange(6, torch::kFloat).view({2, 3})}});
            p->saveCheckpoint(c);
            p->setNotes(id, "rank 8 on q and v");
            p->setRunState(id, RunState::Finished);
            RunSummary s;
            s.metric_name = "accuracy";
            s.best_dev_metric = 0.75;
            s.best_step = 2;
            s.trained_params = 4096;
            p->setSummary(id, s);
        }
        auto p = Project::open(path);
        QVERIFY(!p->readOnly());
        QVERIFY(p->openMessages().empty());
        QCOMPARE(p->backbone()["id"].get<std::string>(), std::string("default"));
        const auto runs = p->runs();
        QCOMPARE(runs.size(), size_t(1));
        const RunRecord& r = runs[0];
        QCOMPARE(r.name, std::string("LoRA r=8"));
        QCOMPARE(r.seed, uint64_t(42));
        QVERIFY(r.state == RunState::Finished);
        QVERIFY(!r.started.empty() && !r.finished.empty());
        QCOMPARE(r.notes, std::string("rank 8 on q and v"));
        QVERIFY(r.summary && r.summary->trained_params == 4096);
        QCOMPARE(p->datasets().at(0).labels.at(1), std::string("positive"));
        const auto m = p->metrics(r.id);
        QCOMPARE(m.size(), size_t(3));
        QVERIFY(std::isnan(m[1].value));  // a non-finite loss is kept as NULL, read back as NaN
        QCOMPARE(p->metrics(r.id, "accuracy").at(0).value, 0.75);
        const auto c = p->checkpoint(r.id, "best");
        QVERIFY(c && c->step == 2);
        const auto t = parseSafetensors(c->tensors, "checkpoint").tensors.at("w");
        QVERIFY(torch::equal(t, torch::arange(6, torch::kFloat).view({2, 3})));
        QVERIFY(!p->checkpoint(r.id, "eval"));

        // Save As copies everything; the copy is independent.
        auto copy = p->saveAs(dir_ + "/a-copy.peftproj");
        QCOMPARE(copy->runs().size(), size_t(1));
        QCOMPARE(copy->metricCount(r.id), int64_t(3));
        QVERIFY_THROWS_EXCEPTION(Error, p->saveAs(dir_ + "/a-copy.peftproj"));  // never overwrites
        QVERIFY_THROWS_EXCEPTION(Error, Project::create(path, {}));

        // Read-only: reading works, writing is refused with a message.
        auto ro = Project::open(path, Project::Mode::ReadOnly);
        QVERIFY(ro->readOnly());
        QCOMPARE(ro->runs().size(), size_t(1));
        QVERIFY_THROWS_EXCEPTION(Error, ro->setNotes(r.id, "x"));
    }

    // The heart of resuming: from the checkpoint of step k, the same seed gives the same steps k+1, …
    void resumedRunMatchesUninterruptedRun() {
        const ModelConfig cfg = tinyConfig(0.1);  // dropout on: resuming must restore the random stream too
        const Dataset data = parityData();
        TrainConfig tc;
        tc.steps = 40;
        tc.batch_size = 16;
        tc.eval_every = 10;
        tc.log_every = 1;
        tc.lr = 3e-3;
        tc.seed = 5;
        tc.threads = 1;
        auto fresh = [&] {
            Transformer m = makeRandomBackbone(cfg, 9);
            m->applySpec(resolvePreset(presetById("lora"), cfg));
            return m;
        };
        Transformer a = fresh();
        Capture full;
        Trainer(a, data, tc).run(&full);
        QVERIFY(full.checkpoints.count(20));

        // Through the project's bytes, as a resumed process would read them.
        const TrainCheckpoint& at20 = full.checkpoints.at(20);
        TrainCheckpoint c = TrainCheckpoint::parseState(at20.serializeState(), "test");
        c.params = parseSafetensors(serializeSafetensors(at20.params), "test").tensors;
        QCOMPARE(c.step, int64_t(20));
        Transformer b = fresh();
        Trainer resumed(b, data, tc);
        resumed.resumeFrom(c);
        Capture rest;
        const TrainResult r = resumed.run(&rest);
        QVERIFY(r.status == RunStatus::Finished);
        QCOMPARE(r.steps_done, int64_t(40));
        QVERIFY(rest.losses.begin()->first == 21);  // continues the curve
        for (int64_t s = 21; s <= 40; ++s)
            QVERIFY2(std::abs(rest.losses.at(s) - full.losses.at(s)) <= 1e-6 * std::abs(full.losses.at(s)),
                     ("step " + std::to_string(s) + ": " + std::to_string(rest.losses.at(s)) + " vs " +
                      std::to_string(full.losses.at(s)))
                         .c_str());
        for (const auto& [name, t] : full.checkpoints.at(40).params)
            QVERIFY2(torch::allclose(rest.checkpoints.at(40).params.at(name), t, 1e-5, 1e-6), name.c_str());

        // Without the RNG and optimizer state the continuation differs: the test can fail.
        TrainCheckpoint bare;
        bare.step = 20;
        bare.params = at20.params;
        Transformer b2 = fresh();
        Trainer naive(b2, data, tc);
        naive.resumeFrom(bare);
        Capture naiveRest;
        naive.run(&naiveRest);
        QVERIFY(std::abs(naiveRest.losses.at(21) - full.losses.at(21)) > 1e-6);
    }

    // interrupt() (SIGTERM in a cluster task) between evaluations: a checkpoint of the last step, status
    // interrupted, and the run resumed from it repeats the uninterrupted run's steps.
    void interruptedBetweenEvaluationsResumesOnTheSameCurve() {
        const ModelConfig cfg = tinyConfig(0.1);
        const Dataset data = parityData();
        TrainConfig tc;
        tc.steps = 30;
        tc.batch_size = 16;
        tc.eval_every = 10;
        tc.log_every = 1;
        tc.lr = 3e-3;
        tc.seed = 8;
        tc.threads = 1;
        auto fresh = [&] {
            Transformer m = makeRandomBackbone(cfg, 4);
            m->applySpec(resolvePreset(presetById("lora"), cfg));
            return m;
        };
        Transformer a = fresh();
        Capture full;
        Trainer(a, data, tc).run(&full);

        struct Stopper : Capture {
            Trainer* t = nullptr;
            void onProgress(int64_t step, int64_t, double, double) override {
                if (step == 13) t->interrupt();
            }
        } stop;
        Transformer b = fresh();
        Trainer first(b, data, tc);
        stop.t = &first;
        const TrainResult r1 = first.run(&stop);
        QVERIFY(r1.status == RunStatus::Interrupted);
        QCOMPARE(r1.steps_done, int64_t(13));
        QVERIFY(stop.checkpoints.count(13));  // written on the way out, between evaluations 10 and 20
        Transformer c = fresh();
        Trainer second(c, data, tc);
        second.resumeFrom(stop.checkpoints.at(13));
        Capture rest;
        QVERIFY(second.run(&rest).status == RunStatus::Finished);
        QCOMPARE(rest.losses.begin()->first, int64_t(14));
        for (int64_t s = 14; s <= 30; ++s)
            QVERIFY2(std::abs(rest.losses.at(s) - full.losses.at(s)) <= 1e-6 * std::abs(full.losses.at(s)),
                     ("step " + std::to_string(s)).c_str());
    }

    // Version 1 files (no 'submitted' state) are migrated when opened for writing, runs and metrics kept;
    // read-only opening leaves them as they are.
    void schemaOneMigratesOnWritableOpen() {
        const std::string path = dir_ + "/v1.peftproj";
        {
            auto p = Project::create(path, {{"id", "default"}});
            RunRecord r;
            r.name = "old";
            r.spec = nlohmann::json::object();
            r.train_config = nlohmann::json::object();
            const int64_t id = p->addRun(r);
            p->appendMetrics(id, {{1, "train", "loss", 0.5, 0.1}});
        }
        {
            sqlite3* db = nullptr;
            QVERIFY(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
            QVERIFY(sqlite3_exec(db, "PRAGMA user_version = 1", nullptr, nullptr, nullptr) == SQLITE_OK);
            sqlite3_close(db);
        }
        QCOMPARE(Project::open(path, Project::Mode::ReadOnly)->schemaVersion(), 1);
        auto p = Project::open(path);
        QCOMPARE(p->schemaVersion(), kProjectSchemaVersion);
        QVERIFY(!p->openMessages().empty() && p->openMessages().back().find("migrated") != std::string::npos);
        QCOMPARE(p->run(1).name, std::string("old"));
        QCOMPARE(p->metricCount(1), int64_t(1));
        p->markSubmitted({{1, "{}"}}, Project::newProjectId());
        QVERIFY(p->run(1).state == RunState::Submitted);
    }

    // Shards: written with the run under its id, in rollback-journal mode, never changing the project;
    // merged idempotently; refused whole when damaged, foreign or of another spec, the project unchanged.
    void shardsMergeIdempotentlyAndRefuseWhatIsNotTheirs() {
        const std::string path = dir_ + "/main.peftproj", shard = dir_ + "/task-0.peftproj";
        auto p = Project::create(path, {{"id", "default"}});
        RunRecord r;
        r.name = "lora";
        r.spec = {{"name", "lora"}};
        r.train_config = {{"steps", 10}};
        r.seed = 3;
        r.steps_total = 10;
        const int64_t id = p->addRun(r);
        const std::string pid = p->projectId();
        p->writeShard(shard, {id}, {{"project_id", pid}, {"task", 0}});
        QCOMPARE(fileBytes(shard)[18], char(1));  // rollback journal, not WAL
        QVERIFY(p->run(id).state == RunState::Queued);
        QVERIFY_THROWS_EXCEPTION(Error,
                                 p->writeShard(shard, {id}, {{"project_id", pid}}));  // never overwritten
        p->markSubmitted({{id, "{}"}}, pid);

        auto merged = p->mergeShard(shard);  // its task has not started
        QVERIFY(merged.refused.empty());
        QCOMPARE(merged.unchanged, std::vector<int64_t>{id});
        {
            auto s = Project::open(shard);
            s->setRunState(id, RunState::Running);
            s->appendMetrics(id, {{1, "train", "loss", 0.9, 0.1}, {2, "train", "loss", 0.8, 0.2}});
            s->setStepsDone(id, 2);
        }
        merged = p->mergeShard(shard);
        QCOMPARE(merged.merged, std::vector<int64_t>{id});
        QCOMPARE(QString(toString(p->run(id).state)), QString("submitted"));  // still the cluster's
        QCOMPARE(p->metricCount(id), int64_t(2));
        QCOMPARE(p->mergeShard(shard).unchanged, std::vector<int64_t>{id});  // twice: nothing new
        QCOMPARE(p->metricCount(id), int64_t(2));
        {
            auto s = Project::open(shard);
            s->appendMetrics(id, {{3, "train", "loss", 0.7, 0.3}});
            s->setStepsDone(id, 3);
            RunSummary sum;
            sum.metric_name = "accuracy";
            sum.best_dev_metric = 0.9;
            s->setSummary(id, sum);
            s->setRunState(id, RunState::Finished);
        }
        QCOMPARE(p->mergeShard(shard).merged, std::vector<int64_t>{id});
        QVERIFY(p->run(id).state == RunState::Finished);
        QCOMPARE(p->run(id).summary->best_dev_metric, 0.9);
        QCOMPARE(p->metricCount(id), int64_t(3));

        // The reason a file is refused ("" when it is not), after checking the project is unchanged.
        const auto refusedFor = [&](const std::string& file) -> std::string {
            const auto before = p->metricCount(id);
            const auto m = p->mergeShard(file);
            if (p->metricCount(id) != before || p->run(id).state != RunState::Finished)
                return "";  // changed: fails the caller's check
            return m.refused;
        };
        // Cut short (a task killed while the file was copied) and overwritten in the middle.
        const std::string bytes = fileBytes(shard);
        writeBytes(dir_ + "/cut.peftproj", bytes.substr(0, bytes.size() / 2));
        QVERIFY(!refusedFor(dir_ + "/cut.peftproj").empty());
        std::string scrambled = bytes;
        for (size_t i = bytes.size() / 3; i < bytes.size() / 3 + 3000 && i < bytes.size(); ++i)
            scrambled[i] = char(i * 131);
        writeBytes(dir_ + "/scrambled.peftproj", scrambled);
        QVERIFY(!refusedFor(dir_ + "/scrambled.peftproj").empty());
        // Another project's, and one whose run has another spec.
        fs::copy_file(shard, dir_ + "/foreign.peftproj");
        fs::copy_file(shard, dir_ + "/respecced.peftproj");
        auto edit = [](const std::string& file, const std::string& q) {
            sqlite3* db = nullptr;
            QVERIFY(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
            QVERIFY(sqlite3_exec(db, q.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
            sqlite3_close(db);
        };
        edit(dir_ + "/foreign.peftproj",
             "UPDATE meta SET value = json_set(value, '$.project_id', 'feedfeedfeedfeedfeedfeedfeedfeed') "
             "WHERE key = 'shard'");
        QVERIFY(refusedFor(dir_ + "/foreign.peftproj").find("another project") != std::string::npos);
        edit(dir_ + "/respecced.peftproj", "UPDATE runs SET spec = '{\"name\": \"bitfit\"}'");
        QVERIFY(refusedFor(dir_ + "/respecced.peftproj").find("another spec") != std::string::npos);
        QVERIFY(refusedFor(path).find("not a shard") != std::string::npos);  // a project, not a shard
    }

    // A queued run executes from its own record; running it again once finished is refused and it stays
    // finished (not "failed").
    void queuedRunExecutesFromItsRecord() {
        const std::string path = dir_ + "/queued.peftproj";
        fs::remove(path);
        int64_t id = 0;
        {
            auto p = Project::create(path, {{"id", "default"}});
            const ModelConfig cfg = readModelConfig(defaultBackboneDir() + "/config.json");
            TrainConfig tc;
            tc.steps = 12;
            tc.eval_every = 6;
            tc.threads = 1;
            RunRecipe r;
            r.spec = resolvePreset(presetById("lora"), cfg);
            r.train = tc;
            r.data.task = "sentiment";
            id = addRun(*p, "lora", "lora", r);
        }
        const TrainResult r = executeRun(path, id);
        QVERIFY(r.status == RunStatus::Finished);
        auto p = Project::open(path, Project::Mode::ReadOnly);
        const RunRecord run = p->run(id);
        QVERIFY(run.state == RunState::Finished && run.steps_done == 12 && run.summary);
        QVERIFY(p->checkpoint(id, "best").has_value());
        p.reset();
        QVERIFY_THROWS_EXCEPTION(Error, executeRun(path, id));
        QVERIFY(Project::open(path, Project::Mode::ReadOnly)->run(id).state == RunState::Finished);
    }

    // One record, one pipeline: a run created by `peftwb train --project` is repeated through the engine's
    // executeRun (what the GUI's worker and `project run` call), stopped at step 20 and resumed there: its
    // training curve is the uninterrupted CLI run's, point for point. And the other way round: a run queued
    // as the GUI queues it, stopped, then resumed by `peftwb train --project P --resume ID`.
    void runsResumeAcrossEntryPointsOnTheUninterruptedCurve() {
        const std::string path = dir_ + "/crosspath.peftproj";
        fs::remove(path);
        QCOMPARE(runPeftwb({"train",
                            "--task",
                            "sentiment",
                            "--preset",
                            "lora",
                            "--steps",
                            "40",
                            "--eval-every",
                            "10",
                            "--train-size",
                            "300",
                            "--max-eval",
                            "32",
                            "--threads",
                            "1",
                            "--seed",
                            "3",
                            "--quiet",
                            "--label-smoothing",
                            "0.1",
                            "--project",
                            path}),
                 0);
        auto losses = [&](int64_t run) {
            std::map<int64_t, double> out;
            for (const auto& m : Project::open(path, Project::Mode::ReadOnly)->metrics(run, "loss"))
                if (m.split == "train") out[m.step] = m.value;
            return out;
        };
        // Stops the run once it has passed step 20 (its checkpoint of step 20 is stored by then).
        struct StopAt : TrainObserver {
            Trainer* trainer = nullptr;
            void onProgress(int64_t step, int64_t, double, double) override {
                if (step >= 21 && trainer) trainer->cancel();
            }
        };
        auto interruptAndResume = [&](int64_t run) {
            StopAt stop;
            ExecuteOptions o;
            o.observer = &stop;
            o.onTrainer = [&](Trainer* t) { stop.trainer = t; };
            const TrainResult first = executeRun(path, run, o);
            QVERIFY(first.status == RunStatus::Cancelled);
        };
        int64_t again = 0, queued = 0, fresh = 0;
        {
            auto p = Project::open(path);
            const RunRecipe cli = runRecipe(*p, p->run(1));
            QCOMPARE(cli.train.label_smoothing, 0.1);  // every setting is in the record
            QCOMPARE(cli.data.train_size, int64_t(300));
            again = addRun(*p, "again", "lora", cli);
            RunRecipe gui = cli;
            gui.train = presetTrainConfig("lora", 40, 3);
            gui.train.threads = 1;
            gui.train.max_eval_examples = 32;
            queued = addRun(*p, "queued", "lora", gui);
            fresh = addRun(*p, "fresh", "lora", gui);
        }
        interruptAndResume(again);
        ExecuteOptions resume;
        resume.resume = true;
        QVERIFY(executeRun(path, again, resume).status == RunStatus::Finished);
        const auto a = losses(1), b = losses(again);
        QCOMPARE(b.size(), a.size());
        for (const auto& [step, loss] : a)
            QVERIFY2(b.count(step) && std::abs(b.at(step) - loss) < 1e-5, std::to_string(step).c_str());

        QVERIFY(executeRun(path, fresh).status == RunStatus::Finished);
        interruptAndResume(queued);
        QCOMPARE(runPeftwb({"train", "--project", path, "--resume", std::to_string(queued), "--quiet"}), 0);
        const auto c = losses(fresh), d = losses(queued);
        QCOMPARE(d.size(), c.size());
        for (const auto& [step, loss] : c)
            QVERIFY2(d.count(step) && std::abs(d.at(step) - loss) < 1e-5, std::to_string(step).c_str());
        QVERIFY(Project::open(path, Project::Mode::ReadOnly)->run(queued).state == RunState::Finished);
    }

    // Run management: re-queue from scratch drops what the run produced, delete drops the run with it, and
    // compaction gives the space back.
    void runsAreRequeuedDeletedAndCompacted() {
        const std::string path = dir_ + "/manage.peftproj";
        fs::remove(path);
        int64_t id = 0;
        {
            auto p = Project::create(path, {{"kind", "tiny-random"}});
            RunRecipe r;
            r.spec = resolvePreset(presetById("full"), defaultModelConfig());
            r.train = presetTrainConfig("full", 10, 1);
            r.train.threads = 1;
            r.train.eval_every = 5;
            r.train.max_eval_examples = 16;
            r.data.task = "sentiment";
            r.data.train_size = 64;
            r.backbone.kind = BackboneRef::Kind::TinyRandom;
            id = addRun(*p, "to manage", "full", r);
        }
        QVERIFY(executeRun(path, id).status == RunStatus::Finished);
        auto p = Project::open(path);
        QVERIFY(p->metricCount(id) > 0 && p->checkpoint(id, "best") && p->run(id).summary);
        p->renameRun(id, "renamed");
        QCOMPARE(p->run(id).name, std::string("renamed"));
        p->requeueRun(id);
        RunRecord r = p->run(id);
        QVERIFY(r.state == RunState::Queued && r.steps_done == 0 && !r.summary && r.started.empty());
        QCOMPARE(p->metricCount(id), int64_t(0));
        QVERIFY(!p->checkpoint(id, "best") && !p->checkpoint(id, "eval"));
        p.reset();
        QVERIFY(executeRun(path, id).status == RunStatus::Finished);  // and trains again from step 0
        p = Project::open(path);
        const auto sizeBefore = fs::file_size(path);
        p->deleteRun(id);
        QVERIFY_THROWS_EXCEPTION(Error, p->run(id));
        QCOMPARE(p->metricCount(id), int64_t(0));
        QVERIFY(!p->checkpoint(id, "best"));
        p->compact();
        p.reset();
        QVERIFY2(fs::file_size(path) < sizeBefore,
                 (std::to_string(fs::file_size(path)) + " >= " + std::to_string(sizeBefore)).c_str());
    }

    void badResumeStateIsRefused() {
        QVERIFY_THROWS_EXCEPTION(Error, TrainCheckpoint::parseState("", "x"));
        QVERIFY_THROWS_EXCEPTION(Error, TrainCheckpoint::parseState(std::string(8, '\xff') + "{}", "x"));
        TrainCheckpoint c;
        c.step = 3;
        c.optimizer = "abc";
        std::string s = c.serializeState();
        QCOMPARE(TrainCheckpoint::parseState(s, "x").optimizer, std::string("abc"));
        QVERIFY_THROWS_EXCEPTION(Error, TrainCheckpoint::parseState(s.substr(0, s.size() - 1), "x"));
    }

    void badFilesAreRefusedAndLeftUntouched_data() {
        QTest::addColumn<QString>("kind");
        QTest::addColumn<QString>("expect");
        QTest::newRow("empty") << "empty"
                               << "not an SQLite database";
        QTest::newRow("random bytes") << "random"
                                      << "not an SQLite database";
        QTest::newRow("truncated project") << "truncated"
                                           << "";
        QTest::newRow("foreign SQLite database") << "foreign"
                                                 << "application id";
        QTest::newRow("newer schema") << "newer"
                                      << "newer PEFT Workbench";
        QTest::newRow("missing column") << "dropped"
                                        << "lacks column";
    }
    void badFilesAreRefusedAndLeftUntouched() {
        QFETCH(QString, kind);
        QFETCH(QString, expect);
        const std::string path = dir_ + "/bad-" + kind.toStdString() + ".peftproj";
        fs::remove(path);
        const std::string good = dir_ + "/good-" + kind.toStdString() + ".peftproj";
        fs::remove(good);
        {
            auto p = Project::create(good, {{"id", "default"}});
            RunRecord r;
            r.name = "x";
            r.spec = nlohmann::json::object();
            r.train_config = nlohmann::json::object();
            p->addRun(r);
        }
        auto sql = [&](const std::string& file, const std::string& q) {
            sqlite3* db = nullptr;
            QVERIFY(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
            QVERIFY(sqlite3_exec(db, q.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
            sqlite3_close(db);
        };
        if (kind == "empty") writeBytes(path, "");
        if (kind == "random") {
            std::mt19937 rng(1);
            std::string b(5000, '\0');
            for (auto& ch : b)
                ch = char(rng());
            writeBytes(path, b);
        }
        if (kind == "truncated") writeBytes(path, fileBytes(good).substr(0, 3000));
        if (kind == "foreign") sql(path, "CREATE TABLE t(x); INSERT INTO t VALUES (1);");
        if (kind == "newer" || kind == "dropped") {
            fs::copy_file(good, path);
            sql(path, kind == "newer" ? "PRAGMA user_version = 99"
                                      : "PRAGMA journal_mode = DELETE; ALTER TABLE runs DROP COLUMN notes");
        }
        const std::string before = fileBytes(path);
        try {
            auto p = Project::open(path);
            p->runs();
            QFAIL("opened a bad file");
        } catch (const Error& e) {
            const std::string msg = e.what();
            QVERIFY2(msg.find(path) != std::string::npos, msg.c_str());  // names the file
            QVERIFY2(msg.find(expect.toStdString()) != std::string::npos, msg.c_str());
        }
        QVERIFY(fileBytes(path) == before);  // not modified
    }

    void tamperedJsonIsReportedWithItsRun() {
        const std::string path = dir_ + "/tampered.peftproj";
        fs::remove(path);
        int64_t id = 0;
        {
            auto p = Project::create(path, {{"id", "default"}});
            RunRecord r;
            r.name = "x";
            r.spec = nlohmann::json::object();
            r.train_config = nlohmann::json::object();
            id = p->addRun(r);
        }
        sqlite3* db = nullptr;
        sqlite3_open(path.c_str(), &db);
        sqlite3_exec(db, "UPDATE runs SET spec = '{\"modifications\": [' ", nullptr, nullptr, nullptr);
        sqlite3_close(db);
        auto p = Project::open(path);
        try {
            p->runs();
            QFAIL("read tampered JSON");
        } catch (const Error& e) {
            const std::string msg = e.what();
            QVERIFY2(msg.find("run " + std::to_string(id) + " spec") != std::string::npos, msg.c_str());
        }
    }

    // A real process, killed with SIGKILL in the middle of training, then resumed to the end.
    void killedTrainingReopensInterruptedAndResumes() {
        PEFT_SLOW_TEST();
        const std::string path = dir_ + "/killed.peftproj";
        fs::remove(path);
        const std::vector<std::string> args = {"train",     "--task",       "sentiment", "--preset",
                                               "lora",      "--steps",      "400",       "--eval-every",
                                               "20",        "--train-size", "400",       "--max-eval",
                                               "64",        "--threads",    "1",         "--quiet",
                                               "--project", path,           "--seed",    "3"};
        const pid_t child = fork();
        QVERIFY(child >= 0);
        if (child == 0) {
            std::vector<char*> argv;
            argv.push_back(const_cast<char*>(PEFTWB_PATH));
            for (const auto& a : args)
                argv.push_back(const_cast<char*>(a.c_str()));
            argv.push_back(nullptr);
            const int devnull = ::open("/dev/null", O_WRONLY);
            dup2(devnull, 1);
            dup2(devnull, 2);
            execv(PEFTWB_PATH, argv.data());
            _exit(127);
        }
        // Wait until it has written a checkpoint past step 40, then kill it without warning.
        bool ready = false;
        for (int i = 0; i < 600 && !ready; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            if (!fs::exists(path)) continue;
            try {
                auto p = Project::open(path, Project::Mode::ReadOnly);
                const auto c = p->checkpoint(1, "eval");
                ready = c && c->step >= 40;
            } catch (const Error&) {  // created but not yet complete
            }
        }
        kill(child, SIGKILL);
        const double killedAt =
            std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
        int status = 0;
        waitpid(child, &status, 0);
        QVERIFY2(ready, "the training process never wrote a checkpoint");
        QVERIFY(WIFSIGNALED(status));

        int64_t stepsAtKill = 0, pointsAtKill = 0, lastStep = 0;
        {
            auto p = Project::open(path);
            const RunRecord r = p->run(1);
            QVERIFY2(r.state == RunState::Interrupted, toString(r.state));
            QVERIFY(!p->openMessages().empty());
            stepsAtKill = r.steps_done;
            pointsAtKill = p->metricCount(1);
            QVERIFY(pointsAtKill > 0);
            QVERIFY(stepsAtKill < 400);
            lastStep = p->metrics(1, "loss").back().step;
            QVERIFY(lastStep >= 40);
        }
        {
            // Bounded loss of metrics: the last write (the heartbeat that goes with each metrics
            // transaction) happened shortly before the kill.
            sqlite3* db = nullptr;
            QVERIFY(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
            sqlite3_stmt* st = nullptr;
            sqlite3_prepare_v2(db, "SELECT heartbeat FROM runs WHERE id = 1", -1, &st, nullptr);
            QVERIFY(sqlite3_step(st) == SQLITE_ROW);
            const double lastWrite = sqlite3_column_double(st, 0);
            sqlite3_finalize(st);
            sqlite3_close(db);
            // A margin a loaded 2-core machine cannot break: the recorder writes every second.
            QVERIFY2(killedAt - lastWrite < 8.0, std::to_string(killedAt - lastWrite).c_str());
        }
        QCOMPARE(runPeftwb({"project", "resume", path, "--run", "1", "--threads", "1"}), 0);
        auto p = Project::open(path);
        const RunRecord r = p->run(1);
        QVERIFY(r.state == RunState::Finished);
        QCOMPARE(r.steps_done, int64_t(400));
        QVERIFY(r.summary.has_value());
        // One continuous curve: train losses at strictly increasing steps up to the end.
        const auto losses = p->metrics(1, "loss");
        int64_t prev = 0;
        for (const auto& m : losses) {
            if (m.split != "train") continue;
            QVERIFY2(m.step > prev,
                     ("step " + std::to_string(m.step) + " after " + std::to_string(prev)).c_str());
            prev = m.step;
        }
        QCOMPARE(prev, int64_t(400));
        // The checkpoint holds the LoRA tensors and the head only: ≈ 4 bytes per trainable parameter.
        const auto best = p->checkpoint(1, "best");
        QVERIFY(best.has_value());
        const auto tensors = parseSafetensors(best->tensors, "best").tensors;
        int64_t n = 0;
        for (const auto& [name, t] : tensors) {
            QVERIFY2(name.find("lora") != std::string::npos || name.rfind("classifier.", 0) == 0,
                     name.c_str());
            n += t.numel();
        }
        QVERIFY(int64_t(best->tensors.size()) < 4 * n + 4096);
    }
};

QTEST_GUILESS_MAIN(TestProject)
#include "test_project.moc"
