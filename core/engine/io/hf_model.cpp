// SPDX-License-Identifier: GPL-3.0-or-later
#include "io/hf_model.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

#include <nlohmann/json.hpp>

#include "io/backbone.h"
#include "io/torch_pickle.h"
#include "util/error.h"
#include "util/json_read.h"
#include "util/parse.h"

namespace peft {

namespace fs = std::filesystem;

namespace {

std::string listNames(const std::vector<std::string>& names) {
    std::string s;
    for (size_t i = 0; i < names.size() && i < 12; ++i)
        s += (i ? ", " : "") + names[i];
    if (names.size() > 12) s += ", … (" + std::to_string(names.size()) + " in all)";
    return s;
}

/// Every tensor of the folder's weights file (hfWeightsFile): one file, or the shards its index names.
std::map<std::string, torch::Tensor> readWeights(const std::string& dir, const std::string& file) {
    const std::string path = dir + "/" + file;
    const std::string indexExt = ".index.json";
    if (file.size() < indexExt.size() ||
        file.compare(file.size() - indexExt.size(), indexExt.size(), indexExt))
        return readTensorFile(path);
    const nlohmann::json j = readJsonFile(path);
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
        throw Error(path, "needs a \"weight_map\" object {tensor: shard file}");
    std::map<std::string, std::vector<std::string>> byShard;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
        if (!it->is_string()) throw Error(path + ": weight_map." + it.key(), "must be a file name");
        const std::string shard = it->get<std::string>();
        if (shard.find('/') != std::string::npos || shard.find("..") != std::string::npos)
            throw Error(path + ": weight_map." + it.key(), "'" + shard + "' must be a file in the folder");
        byShard[shard].push_back(it.key());
    }
    std::map<std::string, torch::Tensor> all;
    for (const auto& [shard, names] : byShard) {
        std::map<std::string, torch::Tensor> tensors = readTensorFile(dir + "/" + shard);
        std::vector<std::string> absent;
        for (const auto& n : names)
            if (!tensors.count(n)) absent.push_back(n);
        if (!absent.empty())
            throw Error(dir + "/" + shard,
                        "the index places these tensors here but the shard lacks them: " + listNames(absent));
        for (auto& kv : tensors)
            all[kv.first] = std::move(kv.second);
    }
    return all;
}

/// "encoder.layer.7.attention.self.query.weight" with prefix "encoder.layer." → {7,
/// "attention.self.query.weight"}.
bool splitLayer(const std::string& name, const std::string& prefix, int64_t& layer, std::string& rest) {
    if (name.rfind(prefix, 0) != 0) return false;
    size_t i = prefix.size(), j = i;
    while (j < name.size() && std::isdigit(static_cast<unsigned char>(name[j])))
        ++j;
    if (j == i || j >= name.size() || name[j] != '.') return false;
    layer = layerIndex(name.substr(i, j - i), name);
    rest = name.substr(j + 1);
    return true;
}

bool startsWith(const std::string& s, const std::string& p) {
    return s.rfind(p, 0) == 0;
}

/// "LayerNorm.gamma" / "LayerNorm.beta" (old BERT checkpoints) → ".weight" / ".bias".
std::string modernLayerNorm(std::string name) {
    auto swap = [&](const std::string& from, const std::string& to) {
        if (name.size() >= from.size() && name.compare(name.size() - from.size(), from.size(), from) == 0)
            name = name.substr(0, name.size() - from.size()) + to;
    };
    swap("LayerNorm.gamma", "LayerNorm.weight");
    swap("LayerNorm.beta", "LayerNorm.bias");
    return name;
}

struct Mapped {
    std::map<std::string, torch::Tensor> tensors;  // core names
    std::vector<std::string> ignored, unexpected;
    bool scoreHead = false;  // GPT-2's bias-free `score`
};

void mapBertLike(const std::string& type, const std::map<std::string, torch::Tensor>& in, Mapped& m) {
    const std::string prefix = type + ".";
    static const std::vector<std::pair<std::string, std::string>> layerParts = {
        {"attention.self.query.", "attn.q.base."},
        {"attention.self.key.", "attn.k.base."},
        {"attention.self.value.", "attn.v.base."},
        {"attention.output.dense.", "attn.o.base."},
        {"attention.output.LayerNorm.", "ln1."},
        {"intermediate.dense.", "w1.base."},
        {"output.dense.", "w2.base."},
        {"output.LayerNorm.", "ln2."},
    };
    for (const auto& [key, t] : in) {
        const std::string name = modernLayerNorm(startsWith(key, prefix) ? key.substr(prefix.size()) : key);
        int64_t layer = 0;
        std::string rest;
        std::string ours;
        if (splitLayer(name, "encoder.layer.", layer, rest)) {
            for (const auto& [from, to] : layerParts)
                if (startsWith(rest, from)) {
                    ours = "blocks." + std::to_string(layer) + "." + to + rest.substr(from.size());
                    break;
                }
        } else if (name == "embeddings.word_embeddings.weight") {
            ours = "tok.weight";
        } else if (name == "embeddings.position_embeddings.weight") {
            ours = "pos.weight";
        } else if (name == "embeddings.token_type_embeddings.weight") {
            ours = "type.weight";
        } else if (startsWith(name, "embeddings.LayerNorm.")) {
            ours = "emb_ln." + name.substr(21);
        } else if (name == "embeddings.position_ids") {
            continue;  // a buffer, 0 … max_positions−1
        } else if (type == "bert" && startsWith(name, "pooler.dense.")) {
            ours = "cls_dense." + name.substr(13);
        } else if (type == "bert" && startsWith(name, "classifier.")) {
            ours = name;
        } else if (type == "roberta" && startsWith(name, "classifier.dense.")) {
            ours = "cls_dense." + name.substr(17);
        } else if (type == "roberta" && startsWith(name, "classifier.out_proj.")) {
            ours = "classifier." + name.substr(20);
        } else if (startsWith(name, "pooler.") || startsWith(name, "cls.") || startsWith(name, "lm_head.")) {
            m.ignored.push_back(key);  // RoBERTa's unused pooler, masked-LM and next-sentence heads
            continue;
        }
        if (ours.empty())
            m.unexpected.push_back(key);
        else
            m.tensors[ours] = t;
    }
}

void mapGpt2(const std::map<std::string, torch::Tensor>& in, bool tied, Mapped& m,
             std::vector<std::string>& notes) {
    const std::string prefix = "transformer.";
    for (const auto& [key, t] : in) {
        const std::string name = startsWith(key, prefix) ? key.substr(prefix.size()) : key;
        int64_t layer = 0;
        std::string rest;
        if (splitLayer(name, "h.", layer, rest)) {
            const std::string blk = "blocks." + std::to_string(layer) + ".";
            if (rest == "attn.bias" || rest == "attn.masked_bias") continue;  // causal-mask buffers
            if (startsWith(rest, "ln_1.")) {
                m.tensors[blk + "ln1." + rest.substr(5)] = t;
            } else if (startsWith(rest, "ln_2.")) {
                m.tensors[blk + "ln2." + rest.substr(5)] = t;
            } else if (rest == "attn.c_attn.weight" || rest == "attn.c_attn.bias") {
                // Conv1D: weight [d, 3d] = [W_q | W_k | W_v] laid out [in, out]; bias [3d].
                const bool weight = rest == "attn.c_attn.weight";
                const int64_t dim = weight ? 1 : 0;
                if (t.dim() != (weight ? 2 : 1) || t.size(dim) % 3 != 0) {
                    m.unexpected.push_back(key + " (shape not [d, 3d] / [3d])");
                    continue;
                }
                const int64_t d = t.size(dim) / 3;
                const char* parts[] = {"q", "k", "v"};
                for (int i = 0; i < 3; ++i) {
                    torch::Tensor p = t.narrow(dim, i * d, d);
                    m.tensors[blk + "attn." + parts[i] + ".base." + (weight ? "weight" : "bias")] =
                        weight ? p.t().contiguous() : p.contiguous();
                }
            } else if (startsWith(rest, "attn.c_proj.") || startsWith(rest, "mlp.c_fc.") ||
                       startsWith(rest, "mlp.c_proj.")) {
                const std::string target = startsWith(rest, "attn.c_proj.") ? "attn.o.base."
                                           : startsWith(rest, "mlp.c_fc.")  ? "w1.base."
                                                                            : "w2.base.";
                const bool weight = rest.size() > 7 && rest.compare(rest.size() - 7, 7, ".weight") == 0;
                m.tensors[blk + target + (weight ? "weight" : "bias")] =
                    weight && t.dim() == 2 ? t.t().contiguous() : t;  // Conv1D stores [in, out]
            } else {
                m.unexpected.push_back(key);
            }
        } else if (name == "wte.weight") {
            m.tensors["tok.weight"] = t;
        } else if (name == "wpe.weight") {
            m.tensors["pos.weight"] = t;
        } else if (startsWith(name, "ln_f.")) {
            m.tensors[name] = t;
        } else if (key == "lm_head.weight") {
            if (!tied) {
                m.tensors["lm_head.weight"] = t;
            } else {
                const auto wte =
                    in.find(in.count("transformer.wte.weight") ? "transformer.wte.weight" : "wte.weight");
                if (wte != in.end() && !torch::equal(wte->second, t))
                    notes.push_back(
                        "lm_head.weight differs from wte.weight but tie_word_embeddings is true: the "
                        "LM head uses wte.weight, as Hugging Face does");
            }
        } else if (key == "score.weight") {
            m.tensors["classifier.weight"] = t;
            m.scoreHead = true;
        } else {
            m.unexpected.push_back(key);
        }
    }
}

/// BART / mBART (BartModel, BartForConditionalGeneration, BartForSequenceClassification and mBART's).
void mapBart(const std::map<std::string, torch::Tensor>& in, bool tied, Mapped& m,
             std::vector<std::string>& notes) {
    static const std::vector<std::pair<std::string, std::string>> layerParts = {
        {"self_attn.q_proj.", "attn.q.base."},
        {"self_attn.k_proj.", "attn.k.base."},
        {"self_attn.v_proj.", "attn.v.base."},
        {"self_attn.out_proj.", "attn.o.base."},
        {"self_attn_layer_norm.", "ln1."},
        {"encoder_attn.q_proj.", "cross.q.base."},
        {"encoder_attn.k_proj.", "cross.k.base."},
        {"encoder_attn.v_proj.", "cross.v.base."},
        {"encoder_attn.out_proj.", "cross.o.base."},
        {"encoder_attn_layer_norm.", "ln_cross."},
        {"fc1.", "w1.base."},
        {"fc2.", "w2.base."},
        {"final_layer_norm.", "ln2."},
    };
    // The shared embedding under any of its names; the others must equal it (they are one tensor in the
    // model). A tied LM head likewise.
    const torch::Tensor* shared = nullptr;
    for (const char* n : {"model.shared.weight", "shared.weight", "model.encoder.embed_tokens.weight",
                          "encoder.embed_tokens.weight"})
        if (in.count(n) && !shared) shared = &in.at(n);
    for (const auto& [key, t] : in) {
        const std::string name = startsWith(key, "model.") ? key.substr(6) : key;
        int64_t layer = 0;
        std::string rest, ours;
        const bool enc = splitLayer(name, "encoder.layers.", layer, rest);
        if (enc || splitLayer(name, "decoder.layers.", layer, rest)) {
            for (const auto& [from, to] : layerParts)
                if (startsWith(rest, from) && (!enc || !startsWith(from, "encoder_attn"))) {
                    ours = std::string(enc ? "blocks." : "dec_blocks.") + std::to_string(layer) + "." + to +
                           rest.substr(from.size());
                    break;
                }
        } else if (name == "shared.weight" || name == "encoder.embed_tokens.weight" ||
                   name == "decoder.embed_tokens.weight" || (name == "lm_head.weight" && tied)) {
            if (shared && !torch::equal(*shared, t))
                notes.push_back(key +
                                " differs from the shared token embedding, which is used (as Hugging "
                                "Face ties them)");
            if (shared == &t)
                ours = "tok.weight";
            else
                continue;
        } else if (name == "lm_head.weight") {
            ours = "lm_head.weight";
        } else if (name == "encoder.embed_positions.weight") {
            ours = "pos.weight";
        } else if (name == "decoder.embed_positions.weight") {
            ours = "dec_pos.weight";
        } else if (startsWith(name, "encoder.layernorm_embedding.")) {
            ours = "emb_ln." + name.substr(28);
        } else if (startsWith(name, "decoder.layernorm_embedding.")) {
            ours = "dec_emb_ln." + name.substr(28);
        } else if (startsWith(name, "encoder.layer_norm.")) {
            ours = "ln_f." + name.substr(19);
        } else if (startsWith(name, "decoder.layer_norm.")) {
            ours = "dec_ln_f." + name.substr(19);
        } else if (name == "final_logits_bias") {
            ours = name;  // a buffer, set apart from the parameters
        } else if (startsWith(name, "classification_head.dense.")) {
            ours = "cls_dense." + name.substr(26);
        } else if (startsWith(name, "classification_head.out_proj.")) {
            ours = "classifier." + name.substr(29);
        } else if (name == "encoder.version" || name == "decoder.version") {
            continue;  // fairseq's bookkeeping buffers
        }
        if (ours.empty())
            m.unexpected.push_back(key);
        else
            m.tensors[ours] = t;
    }
}

bool isHeadName(const std::string& n) {
    return startsWith(n, "classifier.") || startsWith(n, "cls_dense.");
}

}  // namespace

HfModel loadHfModel(const std::string& dir, int64_t num_labels, uint64_t seed) {
    HfModel h;
    h.dir = dir;
    const std::string cfgPath = dir + "/config.json";
    if (!fs::is_directory(dir)) throw Error(dir, "not a folder");
    const nlohmann::json j = readJsonFile(cfgPath);
    h.config = hfModelConfig(j, cfgPath);
    h.model_type = JsonFields(j, cfgPath).text("model_type");
    if (h.config.name == h.model_type) h.config.name = fs::path(dir).filename().string();

    const std::string weightsFile = hfWeightsFile(dir), weightsPath = dir + "/" + weightsFile;
    const std::map<std::string, torch::Tensor> raw = readWeights(dir, weightsFile);
    Mapped m;
    const bool seq2seq = h.config.encoderDecoder();
    if (h.model_type == "gpt2")
        mapGpt2(raw, h.config.tie_embeddings, m, h.notes);
    else if (seq2seq)
        mapBart(raw, h.config.tie_embeddings, m, h.notes);
    else
        mapBertLike(h.model_type, raw, m);
    torch::Tensor finalLogitsBias;
    if (const auto it = m.tensors.find("final_logits_bias"); it != m.tensors.end()) {
        finalLogitsBias = it->second;
        m.tensors.erase(it);
    }
    if (!m.unexpected.empty())
        throw Error(dir, "unexpected tensors for a " + h.model_type + " model: " + listNames(m.unexpected));
    h.ignored = m.ignored;
    if (!m.ignored.empty())
        h.notes.push_back(std::to_string(m.ignored.size()) +
                          " tensors of heads the workbench does not use were "
                          "skipped (" +
                          listNames(m.ignored) + ")");

    bool architecturesSayClassifier = false;
    for (const auto& a : JsonFields(j, cfgPath).array("architectures"))
        if (a.is_string() && a.get<std::string>().find("ForSequenceClassification") != std::string::npos)
            architecturesSayClassifier = true;
    // Next-token logits: GPT-2 without a `score` head, BART / mBART without a classification head.
    h.causal_lm = (h.model_type == "gpt2" && !m.scoreHead && !architecturesSayClassifier) ||
                  (seq2seq && !m.tensors.count("classifier.weight") && !architecturesSayClassifier);

    // The classification head: the stored one when its size fits, else a fresh one (said so).
    const auto storedHead = m.tensors.find("classifier.weight");
    const bool headInFile = storedHead != m.tensors.end();
    if (storedHead != m.tensors.end() && storedHead->second.dim() == 2) {
        const int64_t stored = storedHead->second.size(0);
        if (num_labels > 0 && num_labels != stored) {
            for (auto it = m.tensors.begin(); it != m.tensors.end();)
                it = startsWith(it->first, "classifier.") ? m.tensors.erase(it) : std::next(it);
            h.notes.push_back("the stored classification head has " + std::to_string(stored) +
                              " labels; it was re-initialised for " + std::to_string(num_labels));
            h.config.num_labels = num_labels;
        } else {
            h.config.num_labels = stored;
        }
    } else if (num_labels > 0) {
        h.config.num_labels = num_labels;
    }
    checkConfigAgainstWeights(h.config, m.tensors, cfgPath, weightsPath,
                              [&](const std::string& f) { return hfFieldName(h.model_type, f); });
    h.model = makeRandomBackbone(h.config, seed);
    std::vector<std::string> absent;
    copyInto(h.model, m.tensors, weightsPath, isHeadName, &absent);
    if (finalLogitsBias.defined()) {
        // BART stores it [1, V].
        if (finalLogitsBias.numel() != h.config.vocab_size)
            throw Error(weightsPath, "final_logits_bias has " + std::to_string(finalLogitsBias.numel()) +
                                         " values, vocab_size is " + std::to_string(h.config.vocab_size));
        torch::NoGradGuard ng;
        h.model->final_logits_bias.copy_(finalLogitsBias.reshape({-1}).to(torch::kFloat));
    }
    if (!absent.empty() && !h.causal_lm && !headInFile)
        h.notes.push_back("no trained classification head in the file (" + listNames(absent) +
                          "): initialised with seed " + std::to_string(seed) + " for " +
                          std::to_string(h.config.num_labels) + " labels");

    h.tokenizer = loadHfTokenizer(dir, h.model_type);
    if (h.tokenizer->vocabSize() > h.config.vocab_size)
        throw Error(dir, "the tokenizer has " + std::to_string(h.tokenizer->vocabSize()) +
                             " tokens but config.json's vocab_size is " +
                             std::to_string(h.config.vocab_size));
    return h;
}

}  // namespace peft
