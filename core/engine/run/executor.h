// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The one run pipeline. A run is a RunRecipe (project/run_record.h); prepareRun() turns it into a model with
// its spec, the encoded data and the settings as they will train; executeRun() trains that, recording into a
// project when given one. `peftwb train` (with or without --project), `project run / resume`, the GUI's
// worker, studies and cluster tasks all go through here, so a run created anywhere resumes anywhere.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/hf_tokenizer.h"
#include "model/transformer.h"
#include "project/run_record.h"
#include "run/loaded_backbone.h"
#include "train/trainer.h"

namespace peft {

/// A recipe made ready to train.
struct PreparedRun {
    RunRecipe recipe;         // as it trains: max_length cut to what fits, pad / eos ids filled in
    LoadedBackbone backbone;  // the model with the spec applied (or the adapter imported)
    Dataset data;
    std::vector<std::string> notes;  // what preparing decided (head initialised, rows skipped, batch lowered)
};

/// Loads the backbone, applies the spec (or imports the adapter the run starts from), reads and encodes the
/// data; `where` names the run in errors. Checks that recorded files and backbone weights did not change
/// since they were recorded.
PreparedRun prepareRun(const RunRecipe& recipe, const std::string& where);

/// The encoded data of `d` for `lb` (built-in task or files already read), inputs cut to `maxLength`.
Dataset buildRunData(const LoadedBackbone& lb, const DataRef& d, const std::optional<FileData>& files,
                     int64_t maxLength);

struct ExecuteOptions {
    TrainObserver* observer = nullptr;  // progress, metrics, status (called on the training thread)
    /// Called with the trainer before it runs (to pause / cancel it from another thread), and with nullptr
    /// as soon as it has stopped, before the trainer is destroyed.
    std::function<void(Trainer*)> onTrainer;
    /// Called once the run is prepared, before training starts (the CLI prints what will train).
    std::function<void(const PreparedRun&)> onPrepared;
    bool resume = false;             // continue from the run's last checkpoint
    std::optional<int64_t> threads;  // this machine's thread setting instead of the record's
    /// The device a queue placed the run on (cuda → cuda:1); recorded in the run before it trains.
    std::optional<std::string> device;
    double flush_seconds = 1.0;  // how often metrics are written to the file
};

/// Trains a prepared run on the calling thread. With a project, records metrics, checkpoints, status and the
/// summary into run `runId` (resuming from its checkpoint when opts.resume); without one, only reports to
/// the observer.
TrainResult executeRun(PreparedRun& run, Project* project, int64_t runId, const ExecuteOptions& opts = {});

/// Trains run `run` of the project at `projectPath`: reads its record, prepares and executes it through its
/// own connection to the file. Errors before training starts (a missing backbone, a changed data file) mark
/// the run "failed" with the message and are rethrown; a resume that cannot load its state changes nothing.
TrainResult executeRun(const std::string& projectPath, int64_t run, const ExecuteOptions& opts = {});

/// Adds a queued run that starts from an adapter folder (Hugging Face PEFT LoRA / prefix tuning, or native)
/// on the project's backbone, on `data`; the adapter is checked against the backbone now. Until it has
/// trained, the run's weights are the adapter's (λ(x), evaluation).
int64_t queueAdapterRun(Project& project, const std::string& name, const std::string& adapterDir,
                        const DataRef& data, const TrainConfig& tc);
/// Exports run `run`'s best (else latest) weights as an adapter folder (format hf-peft or native); returns
/// {"format", "peft_type", "dir", "weights", "spec", "has_head", "config"}.
nlohmann::json exportRunAdapter(const std::string& projectPath, int64_t run, const std::string& format,
                                const std::string& outDir);

/// A run's model as its project records it: the backbone, the spec, and the best checkpoint (else the
/// latest, else as initialised); in eval mode.
struct RunModel {
    LoadedBackbone backbone;  // backbone.model carries the spec and the weights
    std::string backboneDir;
    std::string task;
    bool classification = true;
    std::string weights;  // "best checkpoint (step N)", …, "initial"
};
RunModel loadRunModel(const std::string& projectPath, int64_t run);

/// λ(x) of a run for one input: the prefix's share of each head's joint softmax, per layer, head and token.
struct LambdaMap {
    std::vector<std::string> tokens;
    int64_t layers = 0, heads = 0;
    std::vector<double> values;    // [layers][heads][tokens], row-major
    std::string reason;            // why there is no λ (no gated prefix), or empty
    std::string weights;           // "best checkpoint (step N)", "last checkpoint (step N)" or "initial"
    bool encoder_decoder = false;  // the backbone has three attention kinds (`stack` chose one)
};
/// The run's model with its best checkpoint (else its latest, else as initialised) on `text` (the
/// classification input as training sees it). Reads the project; runs one forward pass. On an
/// encoder–decoder, `stack` picks the encoder's self-attention, the decoder's (reading the input shifted
/// right, as BART's classification does; its tokens are shown) or the decoder's cross-attention.
LambdaMap lambdaOfRun(const std::string& projectPath, int64_t run, const std::string& text,
                      Stack stack = Stack::Encoder);

}  // namespace peft
