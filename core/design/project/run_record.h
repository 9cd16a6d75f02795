// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The run record: everything that determines what a run computes — the spec, every training setting, the
// data (a built-in task or imported files), the backbone, the adapter it starts from — in one JSON form,
// written and read here only. `peftwb train`, `project queue / run / resume`, the GUI's queue and studies
// all create runs through addRun() and train them through the engine's prepareRun() / executeRun(), so a run
// created anywhere resumes anywhere. No torch.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/file_data.h"
#include "model/config.h"
#include "peft/spec.h"
#include "project/project.h"
#include "train/train_config.h"

namespace peft {

/// Which backbone a run uses. One schema for every entry point:
///   {"kind": "default"}                          the shipped pretrained backbone
///   {"kind": "folder", "path": DIR, "model_type": "bert"|…|"" (workbench), "weights": FILE, "hash": SHA-256}
///   {"kind": "tiny-random"}                      the built-in random byte-level backbone
///   {"kind": "config", "path": FILE, "config": {…}}  random weights of a config (byte tokenizer)
/// plus "name" (for display) and "random_init" (the folder's shape with random weights).
struct BackboneRef {
    enum class Kind { Default, Folder, TinyRandom, Config };
    Kind kind = Kind::Default;
    std::string path;
    std::string name;
    std::string model_type;             // a Hugging Face folder's; empty for the workbench's own
    std::string weights;                // the weights file's name inside the folder
    std::string hash;                   // SHA-256 of the weights file (when under 1 GiB)
    std::optional<ModelConfig> config;  // Kind::Config: the config itself (the file may move)
    bool random_init = false;
};
const char* toString(BackboneRef::Kind k);
nlohmann::json backboneRefToJson(const BackboneRef& r);
/// Reads the schema above, and the forms earlier versions stored ({"id": "default"}, {"path": …},
/// {"id": "tiny-random"}, {"id": "config", "path": …}). Unknown kinds are refused naming `where`.
BackboneRef backboneRefFromJson(const nlohmann::json& j, const std::string& where);
/// The reference of a backbone folder, after checking that its config (and, for a Hugging Face folder, its
/// tokenizer) loads and that it has weights: path made absolute; with `hash`, the weights' SHA-256 when
/// the file is under 1 GiB (addRun hashes a reference that has none).
BackboneRef folderBackboneRef(const std::string& dir, bool hash = true);
/// Fills in a folder reference's missing SHA-256 of its weights when the file is under 1 GiB (nothing else is
/// read: no config, no tokenizer).
void hashBackboneWeights(BackboneRef& r);
/// Refuses a folder reference whose weights no longer have the recorded SHA-256 (`where` names the run).
void checkBackboneWeights(const BackboneRef& r, const std::string& where);
/// The shipped default backbone when installed, else the built-in random byte-level one.
BackboneRef defaultBackboneRef();
/// The folder a reference loads from (empty for tiny-random and config); `where` names the record.
std::string backboneRefDir(const BackboneRef& r, const std::string& where);
/// The backbone's shape, from its config, without reading weights.
ModelConfig backboneRefConfig(const BackboneRef& r, const std::string& where);

/// What a run trains and evaluates on.
struct DataRef {
    std::string task;                      // a built-in task, or empty
    int64_t train_size = 0;                // built-in: examples generated; 0 = the task's default
    std::optional<FileDatasetSpec> files;  // imported files (absolute paths, column mapping, limit)
    std::string content_hash;              // SHA-256 of the training file when it was recorded
    std::optional<int64_t> dataset_id;     // the project's dataset row, when in a project
};
nlohmann::json dataRefToJson(const DataRef& d);
DataRef dataRefFromJson(const nlohmann::json& j, const std::string& where);
/// The name runs and listings show: the task, or the training file's name.
std::string dataName(const DataRef& d);
/// The label names a run trains for (empty: generation). Reads the files' labels from the dataset row.
std::vector<std::string> dataLabels(const DataRef& d, const std::vector<DatasetRecord>& datasets);

struct RunRecipe {
    Spec spec;
    TrainConfig train;  // every setting, the seed and the device included
    DataRef data;
    BackboneRef backbone;
    std::string init_adapter;  // an adapter folder the run starts from (its spec is `spec`), or empty
};
/// {"spec": …, "train": {every TrainConfig field}, "data": …, "backbone": …, "init_adapter": …}: the form
/// `project runs --json` and `project show` print.
nlohmann::json runRecipeToJson(const RunRecipe& r);
RunRecipe runRecipeFromJson(const nlohmann::json& j, const std::string& where);

/// The recipe of a stored run. Records written by earlier versions (no "data" / "backbone" keys) read their
/// task, training-set size and dataset from the older keys and use the project's backbone.
RunRecipe runRecipe(const Project& project, const RunRecord& run);
/// Adds a queued run of `recipe` to the project: the data's dataset row is found or added (a built-in task's
/// row is shared by its runs), then the run row with the whole recipe. Returns the run's id.
int64_t addRun(Project& project, const std::string& name, const std::string& preset, RunRecipe recipe,
               const std::string& notes = {});

/// The group a run is compared within: its backbone and its data ("world-lm · sentiment"). Runs of one
/// group share a full fine-tuning reference; runs of different groups are never compared.
std::string runGroup(const RunRecipe& r);

/// How a preset is trained when queued without further settings (the GUI, `project queue`, studies): the
/// preset's learning rate and an evaluation every tenth of the steps.
TrainConfig presetTrainConfig(const std::string& presetId, int64_t steps, uint64_t seed);

/// Full fine-tuning like `run`: its backbone, data and settings (steps, batch, seed, device, …) with the full
/// preset's spec and learning rate — the reference its group lacks. `init_adapter` is dropped.
RunRecipe fullFineTuningLike(const RunRecipe& run);

/// Queues `spec` (of preset `presetId`, or "custom") on `data` with the project's backbone and settings `tc`
/// (presetTrainConfig's, or the GUI's panel's): the one way the GUI, `project queue` and sweeps queue specs.
int64_t queueSpec(Project& project, const std::string& name, const std::string& presetId, const Spec& spec,
                  const DataRef& data, const TrainConfig& tc);
/// A built-in task's data reference, or an imported dataset's ("dataset:ID" as the GUI's task list names it).
DataRef taskDataRef(const Project& project, const std::string& taskOrDataset);

/// Imports the user's files as a dataset of the project (read once to check them and learn the labels; paths
/// made absolute; the training file's SHA-256 recorded); returns its id — the existing one when the same
/// files with the same contents and mapping were imported before.
int64_t addFileDataset(Project& project, const FileDatasetSpec& spec);
/// The data reference of a project's dataset row (a built-in task's, or imported files').
DataRef datasetDataRef(const Project& project, int64_t datasetId);
/// The files of a data reference, read again: a file moved or deleted, or a training file whose contents
/// changed, is an error saying which.
FileData readRecordedFiles(const DataRef& d, const std::string& where);

}  // namespace peft
