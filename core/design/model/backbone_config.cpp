// SPDX-License-Identifier: GPL-3.0-or-later
#include "model/backbone_config.h"

#include <algorithm>
#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "util/json_read.h"
#include "util/system.h"

namespace peft {

namespace fs = std::filesystem;

std::string hfFieldName(const std::string& type, const std::string& field) {
    const bool gpt2 = type == "gpt2";
    static const std::map<std::string, std::pair<std::string, std::string>> names = {
        {"d_model", {"n_embd", "hidden_size"}},
        {"n_heads", {"n_head", "num_attention_heads"}},
        {"n_layers", {"n_layer", "num_hidden_layers"}},
        {"d_ff", {"n_inner", "intermediate_size"}},
        {"max_positions", {"n_positions", "max_position_embeddings"}},
        {"ln_eps", {"layer_norm_epsilon", "layer_norm_eps"}},
        {"dropout", {"resid_pdrop", "hidden_dropout_prob"}},
        {"attn_dropout", {"attn_pdrop", "attention_probs_dropout_prob"}},
        {"pad_id", {"pad_token_id", "pad_token_id"}}};
    const auto it = names.find(field);
    return it == names.end() ? field : gpt2 ? it->second.first : it->second.second;
}

const std::vector<std::string>& supportedHfModelTypes() {
    static const std::vector<std::string> types = {"bert", "roberta", "gpt2"};
    return types;
}

bool isHfModelDir(const std::string& dir) {
    try {
        const nlohmann::json j = readJsonFile(dir + "/config.json");
        return j.is_object() && j.contains("model_type") && !j.contains("peft_workbench");
    } catch (const Error&) {
        return false;
    }
}

std::string hfWeightsFile(const std::string& dir) {
    static const char* const kNames[] = {"model.safetensors", "model.safetensors.index.json",
                                         "pytorch_model.bin", "pytorch_model.bin.index.json"};
    for (const char* name : kNames)
        if (std::filesystem::exists(dir + "/" + name)) return name;
    throw Error(dir,
                "no weights: expected model.safetensors, model.safetensors.index.json, "
                "pytorch_model.bin or pytorch_model.bin.index.json");
}

ModelConfig folderModelConfig(const std::string& dir) {
    const std::string path = dir + "/config.json";
    const nlohmann::json j = readJsonFile(path);
    if (j.is_object() && j.contains("peft_workbench")) return readModelConfig(path);
    if (!j.is_object() || !j.contains("model_type")) throw unknownConfigError(path);
    return hfModelConfig(j, path);
}

ModelConfig hfModelConfig(const nlohmann::json& j, const std::string& source) {
    const JsonFields r(j, source);
    const std::string type = r.text("model_type", "");
    std::string supported;
    for (const auto& t : supportedHfModelTypes())
        supported += (supported.empty() ? "" : ", ") + t;
    if (type.empty()) throw Error(source + ": model_type", "missing (supported: " + supported + ")");
    if (std::find(supportedHfModelTypes().begin(), supportedHfModelTypes().end(), type) ==
        supportedHfModelTypes().end())
        throw Error(source + ": model_type",
                    "'" + type + "' is not supported (supported: " + supported + ")");

    ModelConfig c;
    c.name = r.text("_name_or_path", type);
    if (r.has("num_labels"))
        c.num_labels = r.integer("num_labels");
    else if (!r.object("id2label").empty())
        c.num_labels = static_cast<int64_t>(r.object("id2label").size());
    else
        c.num_labels = 2;
    if (type == "gpt2") {
        c.vocab_size = r.integer("vocab_size");
        c.d_model = r.integer("n_embd");
        c.n_heads = r.integer("n_head");
        c.n_layers = r.integer("n_layer");
        c.d_ff = r.integer("n_inner", 4 * c.d_model);
        c.max_positions = r.integer("n_positions", r.integer("n_ctx", 1024));
        c.activation =
            activationFromString(r.text("activation_function", "gelu_new"), r.where("activation_function"));
        c.ln_eps = r.number("layer_norm_epsilon", 1e-5);
        c.dropout = r.number("resid_pdrop", 0.1);
        c.attn_dropout = r.number("attn_pdrop", 0.1);
        c.causal = true;
        c.pre_ln = true;
        c.tie_embeddings = r.flag("tie_word_embeddings", true);
        c.cls_dense = false;
        c.cls_bias = false;  // GPT2ForSequenceClassification's score
        c.pooling = Pooling::Last;
        c.type_vocab_size = 0;
        c.pad_id = r.integer("pad_token_id", r.integer("eos_token_id", c.vocab_size - 1));
        if (!r.flag("scale_attn_weights", true) || r.flag("scale_attn_by_inverse_layer_idx", false))
            throw Error(source, "GPT-2 variants with unscaled or layer-scaled attention are not supported");
    } else {
        c.vocab_size = r.integer("vocab_size");
        c.d_model = r.integer("hidden_size");
        c.n_heads = r.integer("num_attention_heads");
        c.n_layers = r.integer("num_hidden_layers");
        c.d_ff = r.integer("intermediate_size");
        const int64_t positions = r.integer("max_position_embeddings", 512);
        c.type_vocab_size = r.integer("type_vocab_size", 2);
        c.activation = activationFromString(r.text("hidden_act", "gelu"), r.where("hidden_act"));
        c.ln_eps = r.number("layer_norm_eps", 1e-12);
        c.dropout = r.number("hidden_dropout_prob", 0.1);
        c.attn_dropout = r.number("attention_probs_dropout_prob", 0.1);
        c.causal = false;
        c.pre_ln = false;
        c.tie_embeddings = true;
        c.cls_dense = true;
        c.pooling = Pooling::First;
        c.pad_id = r.integer("pad_token_id", type == "roberta" ? 1 : 0);
        const std::string posType = r.text("position_embedding_type", "absolute");
        if (posType != "absolute")
            throw Error(source + ": position_embedding_type",
                        "'" + posType + "' is not supported (absolute only)");
        // RoBERTa numbers positions from padding_idx + 1; its table holds those first rows too.
        c.position_offset = type == "roberta" ? c.pad_id + 1 : 0;
        c.max_positions = positions - c.position_offset;
        if (c.max_positions <= 0)
            throw Error(source + ": max_position_embeddings",
                        std::to_string(positions) + " leaves no positions after RoBERTa's offset " +
                            std::to_string(c.position_offset));
    }
    c.prefix_shifts_positions = true;  // PEFT's prefix tuning passes the prefix as past_key_values
    try {
        c.validate();
    } catch (const Error& e) {
        throw Error(source + ": " + hfFieldName(type, e.where()), e.reason());
    }
    return c;
}

Error unknownConfigError(const std::string& cfgPath) {
    return Error(
        cfgPath + ": model_type",
        "missing: a Hugging Face config.json names its model_type (supported: bert, roberta, gpt2), a "
        "workbench backbone's has a peft_workbench block; this one has neither");
}

std::string defaultBackboneDir() {
    const std::string res = resourcesDir();
    if (res.empty()) return {};
    const std::string dir = res + "/backbones/default";
    return fs::exists(dir + "/config.json") ? dir : std::string();
}

}  // namespace peft
