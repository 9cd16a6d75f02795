// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The training engine: synchronous, step by step, with an observer for progress and metrics and
// thread-safe pause / resume / cancel (cancel takes effect before the next step).
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "model/transformer.h"
#include "train/dataset.h"
#include "train/events.h"
#include "train/schedule.h"
#include "train/train_config.h"
#include "util/precision.h"

namespace peft {

/// Everything a run needs to continue exactly where it was (taken after each evaluation): with the same
/// data, config and seed, a run resumed from the checkpoint of step k repeats the uninterrupted run's steps
/// k+1, k+2, … (same batches, dropout masks, learning rates and optimizer moments).
struct TrainCheckpoint {
    int64_t step = 0;
    double wall_time = 0;                         // seconds of training before this point
    std::map<std::string, torch::Tensor> params;  // trainable parameters (CPU)
    std::string optimizer;                        // AdamW state (torch::save bytes)
    std::string rng;                              // torch generator state of the training device
    bool have_best = false;
    double best_dev_metric = 0;
    int64_t best_step = 0;
    int64_t evals_without_gain = 0;
    std::map<std::string, torch::Tensor> best_params;  // in memory only; stored as its own checkpoint

    /// The resume state (all but the parameters) as bytes, and back; parse errors name `source`.
    std::string serializeState() const;
    static TrainCheckpoint parseState(const std::string& bytes, const std::string& source);
};

struct Batch;

class TrainObserver {
public:
    virtual ~TrainObserver() = default;
    virtual void onProgress(int64_t /*step*/, int64_t /*total*/, double /*steps_per_s*/, double /*eta_s*/) {}
    virtual void onMetric(const MetricPoint& /*point*/) {}
    virtual void onStatus(RunStatus /*status*/, const std::string& /*message*/) {}
    /// A resume state was loaded whole (parameters, optimizer, random generator): training continues after
    /// `step`. Before this nothing of the run has changed, so a damaged state leaves the record as it was.
    virtual void onResumed(int64_t /*step*/) {}
    /// Checkpoints cost a copy of the trainable parameters and optimizer state: only those who ask get them.
    virtual bool wantsCheckpoints() const { return false; }
    /// After each evaluation; `best` when this evaluation is the best so far.
    virtual void onCheckpoint(const TrainCheckpoint& /*c*/, bool /*best*/) {}
};

struct EvalResult {
    std::map<std::string, double> metrics;  // loss and the task's metrics
    std::vector<std::string> predictions;   // generation: decoded dev outputs
    std::vector<int64_t> predicted_labels;  // classification: the predicted class of each example scored
    size_t examples = 0;                    // how many were scored (the split, or its first max_eval)
};

struct TrainResult {
    RunStatus status = RunStatus::Finished;
    std::string message;
    int64_t steps_done = 0;
    std::string metric_name;
    double best_dev_metric = 0;
    int64_t best_step = 0;
    double seconds = 0;
    std::vector<MetricPoint> history;
    std::map<std::string, torch::Tensor> best_state;  // trainable parameters at the best evaluation (CPU)
};

/// Token ids → text, for decoding generation outputs.
using Detokenizer = std::function<std::string(const std::vector<int64_t>&)>;

class Trainer {
public:
    Trainer(Transformer model, const Dataset& data, TrainConfig cfg, Detokenizer detok = {});

    /// Runs on the calling thread until finished, cancelled or diverged. Never throws for a diverging loss.
    TrainResult run(TrainObserver* observer = nullptr);
    /// The next run() continues from `c` (step c.step + 1) instead of starting afresh. The checkpoint's
    /// parameters must fit the model's trainable parameters (errors list what does not).
    void resumeFrom(TrainCheckpoint c);

    void pause();
    void resume();
    void cancel();
    /// Stops before the next step after writing a checkpoint of the last one to the observer (when it takes
    /// checkpoints): status Interrupted, so that the run resumes there. For a signal (preemption, a time
    /// limit); callable from any thread.
    void interrupt();
    bool isPaused() const { return paused_.load(); }

    /// Scores the model on a split (eval mode, no gradients).
    EvalResult evaluate(const std::vector<Example>& split);

    /// Bytes of AdamW state (exp_avg + exp_avg_sq) after the first step; 0 before.
    int64_t optimizerStateBytes() const { return optimizerBytes_; }

private:
    /// The batch tensors for this model (an encoder–decoder's teacher forcing), and its forward.
    Batch batchOf(const std::vector<const Example*>& batch) const;
    ForwardResult forwardOn(const Batch& b);
    torch::Tensor lossOn(const std::vector<const Example*>& batch);

    Transformer model_;
    const Dataset& data_;
    TrainConfig cfg_;
    Detokenizer detok_;
    torch::Device device_;
    Precision precision_;
    std::atomic<bool> cancel_{false}, paused_{false}, interrupt_{false};
    std::mutex mutex_;
    std::condition_variable cv_;
    int64_t optimizerBytes_ = 0;
    std::optional<TrainCheckpoint> resume_;
};

torch::Device parseDevice(const std::string& name);

/// Whether a smaller value of this metric is better (loss, perplexity).
bool lowerIsBetter(const std::string& metric);

/// Bytes of AdamW state held now: exp_avg + exp_avg_sq (+ max_exp_avg_sq with AMSGrad) of every parameter
/// that has taken a step.
int64_t adamwStateBytes(const torch::optim::AdamW& opt);

/// The batch tensors of a classification or generation batch, right-padded.
struct Batch {
    torch::Tensor ids, mask, types,
        labels;  // labels: [B] classes, or [B, T] next-token targets (-100 = ignore)
    /// Encoder–decoder generation (teacher forcing): ids/mask are the sources, the decoder reads
    /// [decoder_start (, forced BOS)] + target and `labels` [B, T'] are [(forced BOS,)] target + <eos>.
    torch::Tensor dec_ids, dec_mask;
};
/// `decoder_start` ≥ 0: a generation batch for an encoder–decoder (with `forced_bos` ≥ 0 predicted first).
Batch makeBatch(const std::vector<const Example*>& examples, TaskKind kind, int64_t pad_id, int64_t eos_id,
                int64_t max_length, int64_t decoder_start = -1, int64_t forced_bos = -1);

}  // namespace peft
