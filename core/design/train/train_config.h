// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// A training run's settings, without torch (the GUI and the project file use it), and their one table:
// JSON keys, command-line options and help for every field.
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

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
    std::string device = "cpu";      // cpu, cuda, cuda:N
    std::string precision = "fp32";  // fp32, tf32 or bf16 (kPrecisions)
    std::string attention = "auto";  // auto, fused or explicit (kAttentionPaths)
    int threads = 0;                 // intra-op threads; 0 = the machine's core count
    // Generation (evaluation decodes the dev set and scores it)
    int beam_size = 1;
    double length_penalty = 1.0;
    int64_t max_new_tokens = 32;
    int no_repeat_ngram = 0;
    bool decode_eval =
        true;  // generation: decode the dev split and score ROUGE / BLEU (off: loss and perplexity)
    int64_t eos_id = -1;  // < 0: the backbone tokenizer's (filled in by prepareRun)
    int64_t pad_id = -1;  // < 0: the backbone tokenizer's, else the model config's pad_id
};

/// One choice of a string setting (precision, attention path): its name and what it means.
struct ChoiceName {
    const char* name;
    const char* help;
};
/// The arithmetic a run trains in: its one table.
inline constexpr ChoiceName kPrecisions[] = {
    {"fp32", "float32 everywhere: the reference, and the default"},
    {"tf32",
     "CUDA only: float32 values and weights, matrix products on TensorFloat-32 tensor cores (inputs "
     "rounded to a 10-bit mantissa, float32 accumulation)"},
    {"bf16",
     "bfloat16 autocast for the forward and backward (matrix products in bfloat16, reductions and the "
     "loss in float32); float32 master weights, gradients and AdamW state. No loss scaling: bfloat16 "
     "has float32's exponent range, so gradients do not underflow as in float16"},
};
/// How attention is computed: its one table.
inline constexpr ChoiceName kAttentionPaths[] = {
    {"auto", "fused where this LibTorch has it (2.x), else explicit"},
    {"fused",
     "LibTorch's fused scaled-dot-product attention (2.x only); a gated prefix is attended in the "
     "same call, over [P_k; C W_k], which is exactly (1 − λ)·Attn(C) + λ·Attn(P)"},
    {"explicit",
     "the attention logits and softmax as tensors: the reference path, and the one λ(x) is read "
     "from"},
};
/// Throws peft::Error(where, …) naming the choices unless `name` is one of kAttentionPaths.
void checkAttentionPathName(const std::string& name, const std::string& where = "attention");

/// Throws peft::Error(where, …) naming the choices unless `name` is one of kPrecisions.
void checkPrecisionName(const std::string& name, const std::string& where = "precision");

/// One field of TrainConfig: its JSON key, the `peftwb train` option that sets it, what it means, and the
/// member. The table is the only place that names the fields: the JSON form, the CLI options, equality and
/// the tests all walk it, and a compile-time check fails when TrainConfig gains a field the table lacks.
struct TrainConfigField {
    const char* key;    // JSON key in a run record
    const char* flag;   // `peftwb train --FLAG`
    const char* help;   // one line for --help
    const char* group;  // optimisation, schedule, evaluation, data, decoding, hardware (the GUI's sections)
    std::variant<int64_t TrainConfig::*, uint64_t TrainConfig::*, int TrainConfig::*, double TrainConfig::*,
                 bool TrainConfig::*, std::string TrainConfig::*, Schedule TrainConfig::*>
        member;
};
const std::vector<TrainConfigField>& trainConfigFields();

/// The value of one field as JSON (numbers, strings, true/false; the schedule by name).
nlohmann::json trainConfigFieldValue(const TrainConfig& tc, const TrainConfigField& f);
/// Sets one field from JSON, checking the type (a fractional value for an integer field is refused).
void setTrainConfigField(TrainConfig& tc, const TrainConfigField& f, const nlohmann::json& v,
                         const std::string& where);
/// Sets one field from command-line text (numbers, booleans as true/false/on/off/1/0, names).
void setTrainConfigField(TrainConfig& tc, const TrainConfigField& f, const std::string& text,
                         const std::string& where);

/// The JSON form: one key per field, every field, always.
nlohmann::json trainConfigToJson(const TrainConfig& tc);
/// Back from JSON. Keys absent keep their defaults (records written before the field existed); keys of the
/// wrong type raise peft::Error naming `where` and the key. Keys that are not fields are left to the caller
/// (a run record keeps its data and backbone references beside them).
TrainConfig trainConfigFromJson(const nlohmann::json& j, const std::string& where);
/// Sets the fields `j` gives over `tc`, strictly: a key that is not a field is refused ("WHERE.key: unknown
/// field"), as is a value of the wrong type.
void applyTrainConfigJson(TrainConfig& tc, const nlohmann::json& j, const std::string& where);
bool operator==(const TrainConfig& a, const TrainConfig& b);
inline bool operator!=(const TrainConfig& a, const TrainConfig& b) {
    return !(a == b);
}

}  // namespace peft
