// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// A training run's settings, without torch (the GUI and the project file use it), and their JSON form as
// stored in a project run's `train_config`.
#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "train/schedule.h"

namespace peft {

struct TrainConfig {
    int64_t steps = 300;
    int64_t batch_size = 32;
    double lr = 1e-3;
    double weight_decay = 0.01;  // AdamW; never on biases, LayerNorm, scalars and IA3 vectors
    double warmup_ratio = 0.06;  // fraction of steps with linear warmup
    Schedule schedule = Schedule::Linear;
    double grad_clip = 1.0;        // global L2 norm; 0 = off
    int64_t grad_accum = 1;        // micro-batches per optimizer step
    double label_smoothing = 0.0;  // generation loss
    double dropout = -1;           // embeddings, residual branches, attention; < 0: the backbone's own
    int64_t eval_every = 100;      // 0 = only at the end
    int64_t log_every = 10;
    int64_t early_stopping = 0;     // evaluations without improvement before stopping; 0 = off
    int64_t max_eval_examples = 0;  // 0 = the whole dev split
    int64_t max_length = 128;       // tokens per example (truncated)
    uint64_t seed = 0;
    std::string device = "cpu";  // cpu, cuda, cuda:N
    int threads = 0;             // intra-op threads; 0 = the machine's core count
    // Generation (evaluation decodes the dev set and scores it)
    int beam_size = 1;
    double length_penalty = 1.0;
    int64_t max_new_tokens = 32;
    int no_repeat_ngram = 0;
    bool decode_eval =
        true;  // generation: decode the dev split and score ROUGE / BLEU (off: loss and perplexity)
    int64_t eos_id = 0;
    int64_t pad_id = 0;
};

/// The JSON form, and back. Unknown keys are ignored (the CLI also stores its command line there); known keys
/// of the wrong type raise peft::Error naming `where` and the key.
nlohmann::json trainConfigToJson(const TrainConfig& tc);
TrainConfig trainConfigFromJson(const nlohmann::json& j, const std::string& where);

}  // namespace peft
