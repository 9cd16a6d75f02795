// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Runs a run of a project: the project is the source of truth. A queued run's record holds everything
// needed (spec, training config with the task, seed, device; the project's backbone reference), so the GUI's
// worker thread and `peftwb project run` execute it the same way, and an interrupted one resumes from its
// last checkpoint.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/hf_tokenizer.h"
#include "model/transformer.h"
#include "train/trainer.h"

namespace peft {

struct ExecuteOptions {
    TrainObserver* observer = nullptr;  // progress, metrics, status (called on the training thread)
    /// Called with the trainer before it runs (to pause / cancel it from another thread), and with nullptr
    /// as soon as it has stopped, before the trainer is destroyed.
    std::function<void(Trainer*)> onTrainer;
    bool resume = false;         // continue from the run's last checkpoint
    double flush_seconds = 1.0;  // how often metrics are written to the file
};

/// Trains run `run` of the project at `projectPath` on the calling thread, recording metrics, checkpoints,
/// status and summary into the file (through its own connection). Errors before training starts (a missing
/// backbone, a bad spec) mark the run "failed" with the message and are rethrown.
TrainResult executeRun(const std::string& projectPath, int64_t run, const ExecuteOptions& opts = {});

/// λ(x) of a run for one input: the prefix's share of each head's joint softmax, per layer, head and token.
/// A run's model as its project records it: the backbone (a Hugging Face folder or the workbench's own), the
/// spec, and the best checkpoint (else the latest, else as initialised); in eval mode.
struct RunModel {
    Transformer model{nullptr};
    std::string backboneDir;
    std::string modelType;  // bert | roberta | gpt2 for a Hugging Face backbone, else empty
    std::string task;
    bool classification = true;
    std::string weights;                               // "best checkpoint (step N)", …, "initial"
    std::shared_ptr<const TextTokenizer> hfTokenizer;  // a Hugging Face backbone's
    std::vector<std::string> worldVocab;               // a world backbone's
};
RunModel loadRunModel(const std::string& projectPath, int64_t run);

struct LambdaMap {
    std::vector<std::string> tokens;
    int64_t layers = 0, heads = 0;
    std::vector<double> values;  // [layers][heads][tokens], row-major
    std::string reason;          // why there is no λ (no gated prefix), or empty
    std::string weights;         // "best checkpoint (step N)", "last checkpoint (step N)" or "initial"
};
/// The run's model with its best checkpoint (else its latest, else as initialised) on `text` (words of the
/// built-in world; the classification input as training sees it). Reads the project; runs one forward pass.
LambdaMap lambdaOfRun(const std::string& projectPath, int64_t run, const std::string& text);

}  // namespace peft
