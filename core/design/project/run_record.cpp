// SPDX-License-Identifier: GPL-3.0-or-later
#include "project/run_record.h"

#include <algorithm>
#include <filesystem>

#include "data/hf_tokenizer.h"
#include "data/world.h"
#include "model/backbone_config.h"
#include "peft/presets.h"
#include "util/enum_table.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/json_read.h"

namespace peft {

using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr EnumName<BackboneRef::Kind> kBackboneKinds[] = {{BackboneRef::Kind::Default, "default"},
                                                          {BackboneRef::Kind::Folder, "folder"},
                                                          {BackboneRef::Kind::TinyRandom, "tiny-random"},
                                                          {BackboneRef::Kind::Config, "config"}};

/// Weights files over this size are not hashed when referenced (hashing 10 GB on every queue is worse than
/// trusting the path).
constexpr uint64_t kMaxHashedWeightsBytes = uint64_t(1) << 30;

std::string absolutePath(const std::string& p) {
    std::error_code ec;
    const fs::path a = fs::absolute(p, ec);
    return (ec ? fs::path(p) : a).lexically_normal().string();
}

// Keys of a run's train_config column beside the TrainConfig fields.
constexpr const char* kDataKey = "data";
constexpr const char* kBackboneKey = "backbone";
constexpr const char* kAdapterKey = "init_adapter";
// Keys earlier versions wrote there, read for old records and otherwise ignored.
const char* const kLegacyKeys[] = {"task", "train_size", "argv"};

Spec specAt(const json& j, const std::string& where) {
    try {
        return specFromJson(j);
    } catch (const Error& e) {
        throw Error(e.where().empty() ? where : where + ": " + e.where(), e.reason());
    }
}

}  // namespace

const char* toString(BackboneRef::Kind k) {
    return enumName(kBackboneKinds, k);
}

json backboneRefToJson(const BackboneRef& r) {
    json j = {{"kind", toString(r.kind)}};
    if (!r.path.empty()) j["path"] = r.path;
    if (!r.name.empty()) j["name"] = r.name;
    if (!r.model_type.empty()) j["model_type"] = r.model_type;
    if (!r.weights.empty()) j["weights"] = r.weights;
    if (!r.hash.empty()) j["hash"] = r.hash;
    if (r.config) j["config"] = *r.config;
    if (r.random_init) j["random_init"] = true;
    return j;
}

BackboneRef backboneRefFromJson(const json& j, const std::string& where) {
    BackboneRef r;
    if (!j.is_object()) throw Error(where, "the backbone reference is not a JSON object: " + j.dump());
    if (!j.contains("kind")) {  // the forms of earlier versions
        const JsonFields f(j, where);
        const std::string id = f.text("id", "");
        r.path = f.text("path", "");
        r.name = f.text("name", "");
        r.model_type = f.text("model_type", "");
        r.weights = f.text("weights", "");
        r.hash = f.text("hash", "");
        if (id == "default" || (id.empty() && r.path.empty())) {
            r.kind = BackboneRef::Kind::Default;
        } else if (id == "tiny-random") {
            r.kind = BackboneRef::Kind::TinyRandom;
        } else if (id == "config") {
            r.kind = BackboneRef::Kind::Config;
        } else if (id.empty()) {
            r.kind = BackboneRef::Kind::Folder;
        } else {
            throw Error(where + ": id", "unknown backbone '" + id + "'");
        }
        return r;
    }
    JsonReader in(j, where);
    std::string kind;
    in.get("kind", kind);
    r.kind = enumFromName(kBackboneKinds, kind, in.path("kind"), "backbone kind");
    in.get("path", r.path);
    in.get("name", r.name);
    in.get("model_type", r.model_type);
    in.get("weights", r.weights);
    in.get("hash", r.hash);
    in.get("random_init", r.random_init);
    if (in.has("config")) {
        ModelConfig c;
        from_json(in.raw("config"), c);
        c.validate();
        r.config = c;
    }
    in.finish();
    if ((r.kind == BackboneRef::Kind::Folder || r.kind == BackboneRef::Kind::Config) && r.path.empty() &&
        !r.config)
        throw Error(in.path("path"), std::string("missing for a '") + kind + "' backbone");
    return r;
}

BackboneRef folderBackboneRef(const std::string& dir0, bool hash) {
    const std::string dir = absolutePath(dir0);
    // A path that does not exist is reported by the config read below, naming the config.json expected.
    if (fs::exists(dir) && !fs::is_directory(dir)) throw Error(dir0, "not a folder");
    BackboneRef r;
    r.kind = BackboneRef::Kind::Folder;
    r.path = dir;
    r.name = folderModelConfig(dir).name;  // checks the config
    r.weights = "model.safetensors";
    if (isHfModelDir(dir)) {
        r.model_type =
            JsonFields(readJsonFile(dir + "/config.json"), dir + "/config.json").text("model_type");
        loadHfTokenizer(dir, r.model_type);  // fails here, not at the first run
        r.weights = hfWeightsFile(dir);
    } else if (!fs::exists(dir + "/" + r.weights)) {
        throw Error(dir, "no weights: expected model.safetensors");
    }
    if (hash) hashBackboneWeights(r);
    return r;
}

void hashBackboneWeights(BackboneRef& r) {
    if (r.kind != BackboneRef::Kind::Folder || !r.hash.empty() || r.weights.empty()) return;
    const std::string weights = r.path + "/" + r.weights;
    std::error_code ec;
    const auto size = fs::file_size(weights, ec);
    if (!ec && size < kMaxHashedWeightsBytes) r.hash = sha256File(weights);
}

void checkBackboneWeights(const BackboneRef& r, const std::string& where) {
    if (r.kind != BackboneRef::Kind::Folder || r.hash.empty() || r.weights.empty()) return;
    const std::string weights = r.path + "/" + r.weights;
    if (!fs::exists(weights))
        throw Error(where, "the backbone's weights '" + weights + "' are not there any more");
    if (sha256File(weights) != r.hash)
        throw Error(where, "the backbone's weights '" + weights +
                               "' changed since the run was recorded (their SHA-256 differs): queue the run "
                               "again to train on the new weights");
}

BackboneRef defaultBackboneRef() {
    BackboneRef r;
    r.kind = defaultBackboneDir().empty() ? BackboneRef::Kind::TinyRandom : BackboneRef::Kind::Default;
    r.name = backboneRefConfig(r, "the default backbone").name;
    return r;
}

std::string backboneRefDir(const BackboneRef& r, const std::string& where) {
    switch (r.kind) {
        case BackboneRef::Kind::Default: {
            const std::string dir = defaultBackboneDir();
            if (dir.empty()) throw Error(where, "the shipped default backbone is not installed");
            return dir;
        }
        case BackboneRef::Kind::Folder:
            if (!fs::is_directory(r.path))
                throw Error(where, "the backbone folder '" + r.path + "' is not there any more");
            return r.path;
        case BackboneRef::Kind::TinyRandom:
        case BackboneRef::Kind::Config:
            return {};
    }
    return {};
}

ModelConfig backboneRefConfig(const BackboneRef& r, const std::string& where) {
    switch (r.kind) {
        case BackboneRef::Kind::TinyRandom:
            return defaultModelConfig();
        case BackboneRef::Kind::Config:
            return r.config ? *r.config : readModelConfig(r.path);
        default:
            return folderModelConfig(backboneRefDir(r, where));
    }
}

// ----- data ---------------------------------------------------------------------------------------------

json dataRefToJson(const DataRef& d) {
    json j = json::object();
    if (!d.task.empty()) j["task"] = d.task;
    if (d.train_size > 0) j["train_size"] = d.train_size;
    if (d.files) j["files"] = *d.files;
    if (!d.content_hash.empty()) j["content_hash"] = d.content_hash;
    if (d.dataset_id) j["dataset_id"] = *d.dataset_id;
    return j;
}

DataRef dataRefFromJson(const json& j, const std::string& where) {
    DataRef d;
    JsonReader in(j, where);
    in.get("task", d.task);
    in.get("train_size", d.train_size);
    if (in.has("files")) d.files = fileDatasetSpecFromJson(in.raw("files"), in.path("files"));
    in.get("content_hash", d.content_hash);
    int64_t id = 0;
    if (in.get("dataset_id", id)) d.dataset_id = id;
    in.finish();
    if (d.task.empty() == !d.files)
        throw Error(where, "needs exactly one of 'task' (a built-in task) and 'files' (imported data)");
    if (!d.task.empty()) {
        try {
            builtinTaskLabels(d.task);
        } catch (const Error& e) {
            throw Error(in.path("task"), e.reason());
        }
    }
    if (d.train_size < 0) throw Error(in.path("train_size"), "must not be negative");
    return d;
}

std::string dataName(const DataRef& d) {
    return d.files ? fs::path(d.files->train).filename().string() : d.task;
}

std::vector<std::string> dataLabels(const DataRef& d, const std::vector<DatasetRecord>& datasets) {
    if (!d.files) return builtinTaskLabels(d.task);
    if (d.dataset_id)
        for (const auto& row : datasets)
            if (row.id == *d.dataset_id) return row.labels;
    return readFileData(*d.files).labels;  // not in a project: the files say
}

// ----- the recipe -----------------------------------------------------------------------------------------

json runRecipeToJson(const RunRecipe& r) {
    json j = {{"spec", r.spec},
              {"train", trainConfigToJson(r.train)},
              {"data", dataRefToJson(r.data)},
              {"backbone", backboneRefToJson(r.backbone)}};
    if (!r.init_adapter.empty()) j["init_adapter"] = r.init_adapter;
    return j;
}

RunRecipe runRecipeFromJson(const json& j, const std::string& where) {
    RunRecipe r;
    JsonReader in(j, where);
    if (!in.has("spec")) throw Error(in.path("spec"), "missing");
    r.spec = specAt(in.raw("spec"), in.path("spec"));
    if (in.has("train")) {
        r.train = TrainConfig{};
        applyTrainConfigJson(r.train, in.raw("train"), in.path("train"));
    }
    if (!in.has("data")) throw Error(in.path("data"), "missing");
    r.data = dataRefFromJson(in.raw("data"), in.path("data"));
    if (in.has("backbone")) r.backbone = backboneRefFromJson(in.raw("backbone"), in.path("backbone"));
    in.get("init_adapter", r.init_adapter);
    in.finish();
    return r;
}

RunRecipe runRecipe(const Project& project, const RunRecord& run) {
    const std::string where = project.path() + ": run " + std::to_string(run.id);
    const json& tcj = run.train_config;
    if (!tcj.is_object()) throw Error(where + " train_config", "is not a JSON object");
    RunRecipe r;
    r.spec = specAt(run.spec, where + " spec");
    r.train = trainConfigFromJson(tcj, where + " train_config");
    for (auto it = tcj.begin(); it != tcj.end(); ++it) {
        const std::string& k = it.key();
        const bool known = k == kDataKey || k == kBackboneKey || k == kAdapterKey ||
                           std::any_of(std::begin(kLegacyKeys), std::end(kLegacyKeys),
                                       [&](const char* l) { return k == l; }) ||
                           std::any_of(trainConfigFields().begin(), trainConfigFields().end(),
                                       [&](const TrainConfigField& f) { return k == f.key; });
        if (!known)
            throw Error(
                where + " train_config." + k,
                "unknown field (written by a newer PEFT Workbench?): refusing to train with a setting "
                "this version would ignore");
    }
    // The columns are the truth for what they hold.
    r.train.seed = run.seed;
    r.train.device = run.device;
    if (auto it = tcj.find(kDataKey); it != tcj.end()) {
        r.data = dataRefFromJson(*it, where + " train_config.data");
    } else {  // an earlier version's record
        const JsonFields f(tcj, where + " train_config");
        r.data.task = f.text("task", "");
        if (r.data.task.empty()) {
            if (!run.dataset_id)
                throw Error(where, "no dataset recorded: neither a built-in task nor an imported file");
            r.data = datasetDataRef(project, *run.dataset_id);
        }
        if (!r.data.files) r.data.train_size = f.has("train_size") ? f.integer("train_size") : 0;
    }
    if (run.dataset_id) r.data.dataset_id = run.dataset_id;
    if (auto it = tcj.find(kBackboneKey); it != tcj.end())
        r.backbone = backboneRefFromJson(*it, where + " train_config.backbone");
    else
        r.backbone = backboneRefFromJson(project.backbone(), project.path() + ": backbone");
    if (auto it = tcj.find(kAdapterKey); it != tcj.end()) {
        if (!it->is_string()) throw Error(where + " train_config.init_adapter", "expected a string");
        r.init_adapter = it->get<std::string>();
    }
    return r;
}

int64_t addRun(Project& project, const std::string& name, const std::string& preset, RunRecipe recipe,
               const std::string& notes) {
    DataRef& d = recipe.data;
    if (d.dataset_id) {
        const DataRef row = datasetDataRef(project, *d.dataset_id);  // checks it is there
        if (row.task != d.task || !row.files != !d.files)
            throw Error(project.path(),
                        "dataset " + std::to_string(*d.dataset_id) + " is not " + dataName(d));
        if (d.files && !d.files->train.empty() && row.files->train != d.files->train)
            throw Error(project.path(), "dataset " + std::to_string(*d.dataset_id) + " is '" +
                                            row.files->train + "', not '" + d.files->train + "'");
        if (!d.files) d.files = row.files;
        if (d.content_hash.empty()) d.content_hash = row.content_hash;
    } else if (d.files) {
        d.dataset_id = addFileDataset(project, *d.files);
        d.files = datasetDataRef(project, *d.dataset_id).files;  // as imported: absolute paths
        d.content_hash = datasetDataRef(project, *d.dataset_id).content_hash;
    } else {  // a built-in task: one row per task, shared by its runs
        for (const auto& row : project.datasets())
            if (row.source == "builtin" && row.name == d.task) d.dataset_id = row.id;
        if (!d.dataset_id) {
            DatasetRecord row;
            row.name = d.task;
            row.source = "builtin";
            row.labels = builtinTaskLabels(d.task);
            row.mapping = {{"train_examples", TaskSizes{}.train}, {"dev_examples", TaskSizes{}.dev}};
            d.dataset_id = project.addDataset(row);
        }
    }
    hashBackboneWeights(recipe.backbone);
    RunRecord r;
    r.name = name;
    r.preset = preset;
    r.spec = recipe.spec;
    r.train_config = trainConfigToJson(recipe.train);
    r.train_config[kDataKey] = dataRefToJson(d);
    r.train_config[kBackboneKey] = backboneRefToJson(recipe.backbone);
    if (!recipe.init_adapter.empty()) r.train_config[kAdapterKey] = recipe.init_adapter;
    r.dataset_id = d.dataset_id;
    r.seed = recipe.train.seed;
    r.device = recipe.train.device;
    r.steps_total = recipe.train.steps;
    r.notes = notes;
    return project.addRun(r);
}

std::string runGroup(const RunRecipe& r) {
    std::string backbone = r.backbone.name.empty() ? toString(r.backbone.kind) : r.backbone.name;
    if (r.backbone.random_init) backbone += " (random init)";
    return backbone + " · " + dataName(r.data);
}

TrainConfig presetTrainConfig(const std::string& presetId, int64_t steps, uint64_t seed) {
    TrainConfig tc;
    tc.steps = steps;
    tc.eval_every = std::max<int64_t>(1, steps / 10);
    tc.lr = presetId.empty() || presetId == "custom" ? 3e-3 : presetById(presetId).default_lr;
    tc.seed = seed;
    return tc;
}

RunRecipe fullFineTuningLike(const RunRecipe& run) {
    const Preset& full = presetById("full");
    RunRecipe r = run;
    r.spec = full.spec;  // a fixed size: nothing to solve on the backbone
    r.train.lr = full.default_lr;
    r.init_adapter.clear();
    return r;
}

int64_t queueSpec(Project& project, const std::string& name, const std::string& presetId, const Spec& spec,
                  const DataRef& data, const TrainConfig& tc) {
    RunRecipe r;
    r.spec = spec;
    r.train = tc;
    r.data = data;
    r.backbone = backboneRefFromJson(project.backbone(), project.path() + ": backbone");
    return addRun(project, name, presetId.empty() ? "custom" : presetId, r);
}

DataRef taskDataRef(const Project& project, const std::string& taskOrDataset) {
    const std::string prefix = "dataset:";
    if (taskOrDataset.rfind(prefix, 0) == 0) {
        int64_t id = 0;
        try {
            id = std::stoll(taskOrDataset.substr(prefix.size()));
        } catch (const std::exception&) {
            throw Error("dataset", "'" + taskOrDataset + "' names no dataset");
        }
        return datasetDataRef(project, id);
    }
    DataRef d;
    d.task = taskOrDataset;
    builtinTaskLabels(d.task);  // an unknown task is an error naming the tasks
    return d;
}

// ----- datasets -----------------------------------------------------------------------------------------

int64_t addFileDataset(Project& project, const FileDatasetSpec& spec0) {
    FileDatasetSpec spec = spec0;
    for (std::string* p : {&spec.train, &spec.dev, &spec.test})
        if (!p->empty()) *p = absolutePath(*p);
    const FileData data = readFileData(spec);  // fails here, with file and line, not at the first run
    DatasetRecord d;
    d.name = fs::path(spec.train).filename().string();
    d.source = "file";
    d.path = spec.train;
    d.content_hash = sha256File(spec.train);
    d.labels = data.labels;
    d.mapping = {{"files", data.spec},
                 {"train_examples", data.seq2seq ? data.strain.size() : data.train.size()},
                 {"dev_examples", data.seq2seq ? data.sdev.size() : data.dev.size()},
                 {"skipped_rows", data.skipped}};
    if (!spec.dev.empty()) d.mapping["dev_hash"] = sha256File(spec.dev);
    // The same files with the same mapping are the same dataset (a study run again on them resumes).
    for (const DatasetRecord& had : project.datasets())
        if (had.source == "file" && had.path == d.path && had.content_hash == d.content_hash &&
            had.mapping == d.mapping)
            return had.id;
    return project.addDataset(d);
}

DataRef datasetDataRef(const Project& project, int64_t datasetId) {
    const DatasetRecord row = project.dataset(datasetId);
    DataRef d;
    d.dataset_id = row.id;
    if (row.source == "builtin") {
        d.task = row.name;
        return d;
    }
    const std::string what = project.path() + ": dataset '" + row.name + "'";
    if (!row.mapping.contains("files")) throw Error(what, "no file mapping recorded");
    d.files = fileDatasetSpecFromJson(row.mapping["files"], what + " mapping");
    d.content_hash = row.content_hash;
    return d;
}

FileData readRecordedFiles(const DataRef& d, const std::string& where) {
    if (!d.files) throw Error(where, "no imported files recorded");
    const FileDatasetSpec& spec = *d.files;
    const std::string what = where + ": dataset '" + dataName(d) + "'";
    for (const std::string* p : {&spec.train, &spec.dev, &spec.test})
        if (!p->empty() && !fs::exists(*p))
            throw Error(what, "'" + *p + "' is not there any more (moved or deleted since it was imported)");
    if (!d.content_hash.empty() && sha256File(spec.train) != d.content_hash)
        throw Error(what, "'" + spec.train +
                              "' changed since it was imported (its SHA-256 differs): import it "
                              "again to train on the new contents");
    return readFileData(spec);
}

}  // namespace peft
