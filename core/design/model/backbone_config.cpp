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
    if (type == "bart" || type == "mbart") {
        static const std::map<std::string, std::string> seq2seq = {
            {"n_heads", "encoder_attention_heads"},
            {"n_layers", "encoder_layers"},
            {"d_ff", "encoder_ffn_dim"},
            {"max_positions", "max_position_embeddings"},
            {"attn_dropout", "attention_dropout"},
            {"pad_id", "pad_token_id"},
            {"decoder_start_id", "decoder_start_token_id"},
            {"forced_bos_id", "forced_bos_token_id"}};
        const auto it = seq2seq.find(field);
        return it == seq2seq.end() ? field : it->second;
    }
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
    static const std::vector<std::string> types = {"bert", "roberta", "gpt2", "bart", "mbart"};
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
    } else if (type == "bart" || type == "mbart") {
        // One width and head count for both stacks (every released BART / mBART has them equal).
        auto same = [&](const char* enc, const char* dec) {
            const int64_t e = r.integer(enc), d = r.integer(dec, e);
            if (e != d)
                throw Error(source + ": " + dec, std::to_string(d) + " differs from " + enc + " " +
                                                     std::to_string(e) +
                                                     " (the workbench builds both stacks alike)");
            return e;
        };
        c.vocab_size = r.integer("vocab_size");
        c.d_model = r.integer("d_model");
        c.n_heads = same("encoder_attention_heads", "decoder_attention_heads");
        c.d_ff = same("encoder_ffn_dim", "decoder_ffn_dim");
        c.n_layers = r.integer("encoder_layers");
        c.decoder_layers = r.integer("decoder_layers");
        if (c.decoder_layers <= 0)
            throw Error(source + ": decoder_layers",
                        "must be positive for an encoder–decoder, got " + std::to_string(c.decoder_layers));
        c.max_positions = r.integer("max_position_embeddings", 1024);
        c.position_offset = 2;  // BartLearnedPositionalEmbedding's offset
        c.activation =
            activationFromString(r.text("activation_function", "gelu"), r.where("activation_function"));
        c.ln_eps = 1e-5;  // nn.LayerNorm's default, which BART's layers use
        c.dropout = r.number("dropout", 0.1);
        c.attn_dropout = r.number("attention_dropout", 0.0);
        c.causal = false;
        c.pre_ln = type == "mbart";  // mBART: pre-LN with final encoder and decoder LayerNorms
        c.scale_embedding = r.flag("scale_embedding", false);
        c.tie_embeddings = r.flag("tie_word_embeddings", true);
        c.cls_dense = true;  // BartClassificationHead: dense + tanh + out_proj
        c.pooling = Pooling::Last;
        c.type_vocab_size = 0;
        c.pad_id = r.integer("pad_token_id", 1);
        const int64_t eos = r.integer("eos_token_id", 2);
        c.decoder_start_id = r.integer("decoder_start_token_id", eos);
        c.forced_bos_id = r.integer("forced_bos_token_id", -1);
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
    return Error(cfgPath + ": model_type",
                 "missing: a Hugging Face config.json names its model_type (supported: bert, roberta, gpt2, "
                 "bart, mbart), a "
                 "workbench backbone's has a peft_workbench block; this one has neither");
}

std::string defaultBackboneDir() {
    const std::string res = resourcesDir();
    if (res.empty()) return {};
    const std::string dir = res + "/backbones/default";
    return fs::exists(dir + "/config.json") ? dir : std::string();
}

}  // namespace peft
