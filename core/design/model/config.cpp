// SPDX-License-Identifier: GPL-3.0-or-later
#include "model/config.h"

#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "util/enum_table.h"
#include "util/error.h"
#include "util/json_read.h"
#include "util/system.h"

namespace peft {

namespace {

constexpr EnumName<Activation> kActivationNames[] = {
    {Activation::ReLU, "relu"}, {Activation::GELU, "gelu"}, {Activation::GELUTanh, "gelu_new"},
    {Activation::SiLU, "silu"}, {Activation::Tanh, "tanh"}, {Activation::Identity, "identity"}};
/// Other names configs use for the same functions (Hugging Face's among them); read, never written.
constexpr EnumName<Activation> kActivationAliases[] = {{Activation::GELUTanh, "gelu_tanh"},
                                                       {Activation::GELUTanh, "gelu_pytorch_tanh"},
                                                       {Activation::SiLU, "swish"},
                                                       {Activation::Identity, "linear"}};
constexpr EnumName<Pooling> kPoolingNames[] = {{Pooling::First, "first"}, {Pooling::Last, "last"}};

}  // namespace

const char* toString(Activation a) {
    return enumName(kActivationNames, a);
}

Activation activationFromString(const std::string& s, const std::string& where) {
    for (const auto& alias : kActivationAliases)
        if (s == alias.name) return alias.value;
    return enumFromName(kActivationNames, s, where, "activation");
}

double ModelConfig::approxParameters() const {
    const double d = double(d_model), L = double(n_layers), ff = double(d_ff);
    const double embeddings = double(vocab_size) * d + double(max_positions + position_offset) * d +
                              double(type_vocab_size) * d + 2 * d;
    const double block = 4 * (d * d + d) + 2 * d * ff + ff + d + 4 * d;  // attention, FFN, two LayerNorms
    const double head = (cls_dense ? d * d + d : 0) + double(num_labels) * (d + 1) +
                        (tie_embeddings ? 0 : double(vocab_size) * d);
    // A decoder: its positions, LayerNorms and layers (a block plus cross-attention and its LayerNorm).
    const double decoder = encoderDecoder() ? double(max_positions + position_offset) * d + 4 * d +
                                                  double(decoder_layers) * (block + 4 * (d * d + d) + 2 * d)
                                            : 0.0;
    return embeddings + L * block + 2 * d + head + decoder;
}

void ModelConfig::validate() const {
    auto positive = [](const char* field, int64_t v) {
        if (v <= 0) throw Error(field, "must be positive, got " + std::to_string(v));
    };
    // Each size within what any model of these families has (and far from int64 overflow in products).
    auto atMost = [](const char* field, int64_t v, int64_t max) {
        if (v > max)
            throw Error(field, std::to_string(v) +
                                   " is larger than any model the workbench builds (at most " +
                                   std::to_string(max) + ")");
    };
    atMost("vocab_size", vocab_size, int64_t(1) << 24);
    atMost("d_model", d_model, int64_t(1) << 16);
    atMost("n_layers", n_layers, 1024);
    atMost("d_ff", d_ff, int64_t(1) << 20);
    atMost("max_positions", max_positions, int64_t(1) << 20);
    atMost("type_vocab_size", type_vocab_size, int64_t(1) << 16);
    atMost("position_offset", position_offset, int64_t(1) << 20);
    atMost("num_labels", num_labels, 100000);
    atMost("decoder_layers", decoder_layers, 1024);
    positive("vocab_size", vocab_size);
    positive("d_model", d_model);
    positive("n_heads", n_heads);
    positive("n_layers", n_layers);
    positive("d_ff", d_ff);
    positive("max_positions", max_positions);
    positive("num_labels", num_labels);
    if (d_model % n_heads != 0)
        throw Error("n_heads",
                    std::to_string(n_heads) + " does not divide d_model " + std::to_string(d_model));
    if (type_vocab_size < 0) throw Error("type_vocab_size", "must be >= 0");
    if (decoder_layers < 0) throw Error("decoder_layers", "must be >= 0 (0: no decoder)");
    auto tokenId = [&](const char* field, int64_t id, bool required) {
        if (id == -1 && !required) return;
        if (id < 0 || id >= vocab_size)
            throw Error(field, std::to_string(id) + " is outside the vocabulary [0, " +
                                   std::to_string(vocab_size) + ")" +
                                   (required ? " (an encoder–decoder needs it)" : ""));
    };
    tokenId("decoder_start_id", decoder_start_id, encoderDecoder());
    tokenId("forced_bos_id", forced_bos_id, false);
    if (encoderDecoder() && causal)
        throw Error("causal", "an encoder–decoder's encoder reads both ways (its decoder is causal): false");
    if (encoderDecoder() && type_vocab_size > 0)
        throw Error("type_vocab_size", "an encoder–decoder has no token types: 0");
    if (position_offset < 0) throw Error("position_offset", "must be >= 0");
    auto prob = [](const char* field, double p) {
        if (!(p >= 0.0 && p < 1.0)) throw Error(field, "must be in [0, 1), got " + std::to_string(p));
    };
    prob("dropout", dropout);
    prob("attn_dropout", attn_dropout);
    if (!(ln_eps > 0.0)) throw Error("ln_eps", "must be positive");
    if (pad_id < 0 || pad_id >= vocab_size)
        throw Error("pad_id", std::to_string(pad_id) + " is outside the vocabulary [0, " +
                                  std::to_string(vocab_size) + ")");
    // The weights alone, in float32, must fit in memory (training needs about four times that).
    const double bytes = 4.0 * approxParameters();
    const int64_t memory = physicalMemoryBytes();
    if (memory > 0 && bytes > double(memory)) {
        char buf[320];
        std::snprintf(
            buf, sizeof buf,
            "vocab_size %lld, d_model %lld, n_layers %lld and d_ff %lld make %.3g parameters, %.1f GiB "
            "in float32: more than this machine's %.1f GiB of memory",
            static_cast<long long>(vocab_size), static_cast<long long>(d_model),
            static_cast<long long>(n_layers), static_cast<long long>(d_ff), approxParameters(),
            bytes / double(1 << 30), double(memory) / double(1 << 30));
        throw Error("model size", buf);
    }
}

void to_json(nlohmann::json& j, const ModelConfig& c) {
    j = nlohmann::json{{"name", c.name},
                       {"vocab_size", c.vocab_size},
                       {"d_model", c.d_model},
                       {"n_heads", c.n_heads},
                       {"n_layers", c.n_layers},
                       {"d_ff", c.d_ff},
                       {"max_positions", c.max_positions},
                       {"type_vocab_size", c.type_vocab_size},
                       {"position_offset", c.position_offset},
                       {"causal", c.causal},
                       {"pre_ln", c.pre_ln},
                       {"activation", toString(c.activation)},
                       {"dropout", c.dropout},
                       {"attn_dropout", c.attn_dropout},
                       {"ln_eps", c.ln_eps},
                       {"tie_embeddings", c.tie_embeddings},
                       {"num_labels", c.num_labels},
                       {"cls_dense", c.cls_dense},
                       {"cls_bias", c.cls_bias},
                       {"pooling", enumName(kPoolingNames, c.pooling)},
                       {"pad_id", c.pad_id},
                       {"prefix_shifts_positions", c.prefix_shifts_positions}};
    if (c.encoderDecoder() || c.scale_embedding) j["scale_embedding"] = c.scale_embedding;
    if (c.encoderDecoder()) {
        j["decoder_layers"] = c.decoder_layers;
        j["decoder_start_id"] = c.decoder_start_id;
        j["forced_bos_id"] = c.forced_bos_id;
    }
}

void from_json(const nlohmann::json& j, ModelConfig& c) {
    JsonReader r(j, "");
    r.get("name", c.name);
    r.get("vocab_size", c.vocab_size);
    r.get("d_model", c.d_model);
    r.get("n_heads", c.n_heads);
    r.get("n_layers", c.n_layers);
    r.get("d_ff", c.d_ff);
    r.get("max_positions", c.max_positions);
    r.get("type_vocab_size", c.type_vocab_size);
    r.get("position_offset", c.position_offset);
    r.get("causal", c.causal);
    r.get("pre_ln", c.pre_ln);
    std::string act = toString(c.activation);
    r.get("activation", act);
    c.activation = activationFromString(act, r.path("activation"));
    r.get("dropout", c.dropout);
    r.get("attn_dropout", c.attn_dropout);
    r.get("ln_eps", c.ln_eps);
    r.get("tie_embeddings", c.tie_embeddings);
    r.get("num_labels", c.num_labels);
    r.get("cls_dense", c.cls_dense);
    r.get("cls_bias", c.cls_bias);
    std::string pooling = enumName(kPoolingNames, c.pooling);
    r.get("pooling", pooling);
    c.pooling = enumFromName(kPoolingNames, pooling, r.path("pooling"), "pooling");
    r.get("pad_id", c.pad_id);
    r.get("prefix_shifts_positions", c.prefix_shifts_positions);
    r.get("decoder_layers", c.decoder_layers);
    r.get("scale_embedding", c.scale_embedding);
    r.get("decoder_start_id", c.decoder_start_id);
    r.get("forced_bos_id", c.forced_bos_id);
    r.finish();
}

ModelConfig defaultModelConfig() {
    return ModelConfig{};
}

ModelConfig readModelConfig(const std::string& path) {
    nlohmann::json j = readJsonFile(path);
    if (j.is_object()) j.erase("peft_workbench");  // provenance of a backbone folder
    try {
        ModelConfig c = j.get<ModelConfig>();
        c.validate();
        return c;
    } catch (const Error& e) {
        throw Error(path + ": " + e.where(), e.reason());
    }
}

ModelConfig workbenchDefaultConfig(const std::string& resourcesDir) {
    const std::string path = resourcesDir + "/backbones/default/config.json";
    if (!resourcesDir.empty() && std::ifstream(path)) return readModelConfig(path);
    return defaultModelConfig();
}

}  // namespace peft
