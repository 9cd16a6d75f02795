// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Internal to the CLI: the subcommands implemented outside cli.cpp and the helpers they share.
#include <ostream>
#include <string>

#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/file_data.h"
#include "data/hf_tokenizer.h"
#include "data/world.h"
#include "model/config.h"
#include "model/transformer.h"
#include "peft/spec.h"
#include "project/run_record.h"
#include "run/loaded_backbone.h"
#include "util/args.h"
#include "util/process.h"

namespace peft {

/// The backbone config: --config FILE, else --model DIR's, else the shipped default's, else the built-in
/// random one. Reads no weights.
ModelConfig backboneConfig(const Args& a);

/// The files of --data / --dev / --test with their mapping options (--text-column, --pair-column,
/// --label-column, --source-field, --target-field, --data-kind, --dev-fraction, --seed, --skip-bad-rows,
/// --limit), checked.
FileDatasetSpec fileSpecFromArgs(const Args& a);
/// The backbone the options name: --config FILE (random weights), --model DIR | default | tiny-random
/// (default: the shipped pretrained backbone, else tiny-random), --random-init.
BackboneRef backboneRefFromArgs(const Args& a);
/// openBackbone(backboneRefFromArgs(a), …). `num_labels` > 0 resizes the classification head.
LoadedBackbone chosenBackbone(const Args& a, int64_t num_labels, uint64_t seed);
/// --spec FILE, or --preset ID sized by --r / --l / --budget; validated against `cfg`.
Spec chosenSpec(const Args& a, const ModelConfig& cfg);

/// The training settings of the table's options (--steps, --lr, …) over `defaults`.
TrainConfig trainConfigFromArgs(const Args& a, TrainConfig defaults);
/// One help line per training setting, from the table.
std::string trainSettingsHelp();

int cmdTrain(const Args& a, std::ostream& out, std::ostream& err);
int cmdScore(const Args& a, std::ostream& out, std::ostream& err);
int cmdBench(const Args& a, std::ostream& out, std::ostream& err);
int cmdPretrain(const Args& a, std::ostream& out, std::ostream& err);
int cmdEval(const Args& a, std::ostream& out, std::ostream& err);
int cmdProject(const Args& a, std::ostream& out, std::ostream& err);
int cmdLmProbe(const Args& a, std::ostream& out, std::ostream& err);
int cmdExport(const Args& a, std::ostream& out, std::ostream& err);
int cmdData(const Args& a, std::ostream& out, std::ostream& err);
int cmdDemo(const Args& a, std::ostream& out, std::ostream& err);
int cmdStudy(const Args& a, std::ostream& out, std::ostream& err);
int cmdSlurm(const Args& a, std::ostream& out, std::ostream& err);
/// peftwb project merge FILE [SHARD…] [--shards DIR]: shards of cluster tasks into the project.
int projectMerge(const Args& a, std::ostream& out, std::ostream& err);

/// A number as JSON-free text: shortest round-trip form (%.9g), NaN and ±Infinity spelled out.
std::string number(double v);
/// This executable's path (for child processes).
std::string selfExe();
struct QueuedRun {
    int64_t run = 0;
    bool resume = false;  // an interrupted run with a checkpoint: resume it
};
/// Where runs train: --device (this execution's device instead of the record's), --gpus (all, or a list
/// such as 0,2: the GPUs runs side by side are spread over) and --runs-per-gpu.
struct RunPlacement {
    std::optional<std::string> device;
    std::string gpus = "all";
    int per_gpu = 1;
};
RunPlacement placementFromArgs(const Args& a);
/// Trains runs of a project: in this process one after another (parallel 1), or `parallel` at a time, each
/// in a child process with threads / parallel threads (`threads`: 0 or absent = one per core) and, for runs
/// that ask for a GPU, a device of their own (DevicePlacer). Returns 0 when every run finished. `events`:
/// report each run as JSON lines on `out` and take pause / resume / cancel from stdin (the workbench's
/// parallel queue; parallel 1 only).
int runProjectRuns(const std::string& file, const std::vector<QueuedRun>& runs, int64_t parallel,
                   std::optional<int64_t> threads, std::ostream& out, bool events = false,
                   const RunPlacement& placement = {});

}  // namespace peft
