// SPDX-License-Identifier: GPL-3.0-or-later
#include "train/train_config.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>

#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/field_count.h"

namespace peft {

using json = nlohmann::json;

namespace {

using TC = TrainConfig;

constexpr TrainConfigField kFields[] = {
    {"steps", "steps", "optimizer steps", "schedule", &TC::steps},
    {"batch_size", "batch-size", "examples per optimizer step (lowered to the training set's size)",
     "optimisation", &TC::batch_size},
    {"lr", "lr", "peak learning rate (default: the preset's)", "optimisation", &TC::lr},
    {"weight_decay", "weight-decay", "AdamW weight decay (never on biases, LayerNorm, scalars, IA3)",
     "optimisation", &TC::weight_decay},
    {"warmup_ratio", "warmup", "fraction of the steps with linear warmup", "schedule", &TC::warmup_ratio},
    {"schedule", "schedule", "linear, cosine or constant after warmup", "schedule", &TC::schedule},
    {"grad_clip", "clip", "global gradient-norm clip; 0 = off", "optimisation", &TC::grad_clip},
    {"grad_accum", "grad-accum", "micro-batches per optimizer step", "optimisation", &TC::grad_accum},
    {"label_smoothing", "label-smoothing", "label smoothing of the generation loss", "optimisation",
     &TC::label_smoothing},
    {"dropout", "dropout", "dropout everywhere; < 0 = the backbone's own", "optimisation", &TC::dropout},
    {"eval_every", "eval-every", "steps between evaluations; 0 = only at the end", "evaluation",
     &TC::eval_every},
    {"log_every", "log-every", "steps between training-loss points", "evaluation", &TC::log_every},
    {"early_stopping", "early-stopping", "evaluations without improvement before stopping; 0 = off",
     "evaluation", &TC::early_stopping},
    {"max_eval_examples", "max-eval", "dev examples per evaluation; 0 = all", "evaluation",
     &TC::max_eval_examples},
    {"max_length", "max-length", "tokens per example (longer ones are truncated)", "data", &TC::max_length},
    {"seed", "seed", "seed of initialisation, batches and dropout", "hardware", &TC::seed},
    {"device", "device", "cpu, cuda or cuda:N", "hardware", &TC::device},
    {"precision", "precision",
     "fp32 (default), tf32 (CUDA: TensorFloat-32 matrix products) or bf16 (bfloat16 autocast, float32 "
     "master weights)",
     "hardware", &TC::precision},
    {"attention", "attention",
     "auto (fused where LibTorch 2.x has it), fused or explicit (the reference path)", "hardware",
     &TC::attention},
    {"threads", "threads",
     "CPU threads (LibTorch's and the BLAS library's); 0 = auto: 1 below d_model 256, else one per core",
     "hardware", &TC::threads},
    {"beam_size", "beam", "beam width of generation", "decoding", &TC::beam_size},
    {"length_penalty", "length-penalty", "beam score divided by length^penalty", "decoding",
     &TC::length_penalty},
    {"max_new_tokens", "max-new-tokens", "tokens generated per dev example at most", "decoding",
     &TC::max_new_tokens},
    {"no_repeat_ngram", "no-repeat-ngram", "never repeat an n-gram of this size when generating; 0 = off",
     "decoding", &TC::no_repeat_ngram},
    {"decode_eval", "decode-eval", "generation: decode the dev split and score it (false: loss only)",
     "decoding", &TC::decode_eval},
    {"eos_id", "eos-id", "end-of-sequence token id (default: the backbone tokenizer's)", "data", &TC::eos_id},
    {"pad_id", "pad-id", "padding token id (default: the backbone tokenizer's)", "data", &TC::pad_id},
};

// Every field of TrainConfig has its row above: a new field without one stops the build here.
static_assert(std::size(kFields) == aggregateFieldCount<TrainConfig>(),
              "TrainConfig and kFields disagree: give every field a row (JSON key, option, help)");

template <class... F>
struct Overloaded : F... {
    using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

template <class T>
T integerFrom(const json& v, const std::string& where) {
    if (v.is_number_integer() || v.is_number_unsigned()) {
        if (v.is_number_unsigned()) {
            const uint64_t u = v.get<uint64_t>();
            if (u > uint64_t(std::numeric_limits<T>::max())) throw Error(where, "out of range: " + v.dump());
            return T(u);
        }
        const int64_t i = v.get<int64_t>();
        if (std::is_unsigned_v<T> && i < 0) throw Error(where, "must not be negative: " + v.dump());
        if (!std::is_unsigned_v<T> &&
            (i < int64_t(std::numeric_limits<T>::min()) || i > int64_t(std::numeric_limits<T>::max())))
            throw Error(where, "out of range: " + v.dump());
        return T(i);
    }
    if (v.is_number_float()) {  // 300.0 is 300; 0.5 is no step count
        const double d = v.get<double>();
        if (std::isfinite(d) && d == std::floor(d) && d >= double(std::numeric_limits<T>::min()) &&
            d <= double(std::numeric_limits<T>::max()))
            return T(d);
        throw Error(where, "expected a whole number, got " + v.dump());
    }
    throw Error(where, "expected a whole number, got " + v.dump());
}

}  // namespace

const std::vector<TrainConfigField>& trainConfigFields() {
    static const std::vector<TrainConfigField> fields(std::begin(kFields), std::end(kFields));
    return fields;
}

json trainConfigFieldValue(const TrainConfig& tc, const TrainConfigField& f) {
    return std::visit(Overloaded{[&](Schedule TC::*m) { return json(toString(tc.*m)); },
                                 [&](auto m) { return json(tc.*m); }},
                      f.member);
}

void setTrainConfigField(TrainConfig& tc, const TrainConfigField& f, const json& v,
                         const std::string& where) {
    std::visit(Overloaded{
                   [&](int64_t TC::*m) { tc.*m = integerFrom<int64_t>(v, where); },
                   [&](uint64_t TC::*m) { tc.*m = integerFrom<uint64_t>(v, where); },
                   [&](int TC::*m) { tc.*m = integerFrom<int>(v, where); },
                   [&](double TC::*m) {
                       if (!v.is_number()) throw Error(where, "expected a number, got " + v.dump());
                       tc.*m = v.get<double>();
                   },
                   [&](bool TC::*m) {
                       if (!v.is_boolean()) throw Error(where, "expected true or false, got " + v.dump());
                       tc.*m = v.get<bool>();
                   },
                   [&](std::string TC::*m) {
                       if (!v.is_string()) throw Error(where, "expected a string, got " + v.dump());
                       if (m == &TC::precision) checkPrecisionName(v.get<std::string>(), where);
                       if (m == &TC::attention) checkAttentionPathName(v.get<std::string>(), where);
                       tc.*m = v.get<std::string>();
                   },
                   [&](Schedule TC::*m) {
                       if (!v.is_string()) throw Error(where, "expected a string, got " + v.dump());
                       tc.*m = enumFromName(kScheduleNames, v.get<std::string>(), where, "schedule");
                   },
               },
               f.member);
}

void setTrainConfigField(TrainConfig& tc, const TrainConfigField& f, const std::string& text,
                         const std::string& where) {
    json v;
    if (std::holds_alternative<std::string TC::*>(f.member) ||
        std::holds_alternative<Schedule TC::*>(f.member)) {
        v = text;
    } else if (std::holds_alternative<bool TC::*>(f.member)) {
        if (text == "true" || text == "on" || text == "1" || text == "yes")
            v = true;
        else if (text == "false" || text == "off" || text == "0" || text == "no")
            v = false;
        else
            throw Error(where, "expected true or false, got '" + text + "'");
    } else {
        // Numbers as JSON reads them: "1e-3", "300", "-1". Anything else (trailing text, hex) is refused.
        try {
            v = json::parse(text);
        } catch (const json::exception&) {
        }
        if (!v.is_number()) throw Error(where, "expected a number, got '" + text + "'");
    }
    setTrainConfigField(tc, f, v, where);
}

namespace {

template <size_t N>
void checkName(const ChoiceName (&table)[N], const std::string& name, const std::string& where,
               const char* what) {
    std::string names;
    for (const auto& p : table) {
        if (name == p.name) return;
        names += std::string(names.empty() ? "" : ", ") + p.name;
    }
    throw Error(where, std::string("unknown ") + what + " '" + name + "' (expected " + names + ")");
}

}  // namespace

void checkPrecisionName(const std::string& name, const std::string& where) {
    checkName(kPrecisions, name, where, "precision");
}

void checkAttentionPathName(const std::string& name, const std::string& where) {
    checkName(kAttentionPaths, name, where, "attention path");
}

json trainConfigToJson(const TrainConfig& tc) {
    json j = json::object();
    for (const auto& f : kFields)
        j[f.key] = trainConfigFieldValue(tc, f);
    return j;
}

TrainConfig trainConfigFromJson(const json& j, const std::string& where) {
    if (!j.is_object()) throw Error(where, "the training config is not a JSON object");
    TrainConfig tc;
    for (const auto& f : kFields)
        if (auto it = j.find(f.key); it != j.end()) setTrainConfigField(tc, f, *it, where + ": " + f.key);
    return tc;
}

void applyTrainConfigJson(TrainConfig& tc, const json& j, const std::string& where) {
    if (!j.is_object()) throw Error(where, "expected an object of training settings");
    for (auto it = j.begin(); it != j.end(); ++it) {
        const auto* f = std::find_if(std::begin(kFields), std::end(kFields),
                                     [&](const TrainConfigField& field) { return it.key() == field.key; });
        if (f == std::end(kFields)) throw Error(where + "." + it.key(), "unknown field");
        setTrainConfigField(tc, *f, *it, where + "." + it.key());
    }
}

bool operator==(const TrainConfig& a, const TrainConfig& b) {
    for (const auto& f : kFields) {
        const bool same = std::visit([&](auto m) { return a.*m == b.*m; }, f.member);
        if (!same) return false;
    }
    return true;
}

}  // namespace peft
