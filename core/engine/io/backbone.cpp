// SPDX-License-Identifier: GPL-3.0-or-later
#include "io/backbone.h"

#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "data/world.h"
#include "io/safetensors.h"
#include "util/error.h"
#include "util/files.h"
#include "util/json_read.h"
#include "util/system.h"

namespace peft {

namespace fs = std::filesystem;

namespace {

std::string sizesText(const torch::Tensor& t) {
    std::string s = "[";
    for (int64_t i = 0; i < t.dim(); ++i)
        s += (i ? ", " : "") + std::to_string(t.size(i));
    return s + "]";
}

}  // namespace

void copyInto(Transformer& model, const std::map<std::string, torch::Tensor>& tensors,
              const std::string& source, const std::function<bool(const std::string&)>& optional,
              std::vector<std::string>* absent) {
    std::vector<std::string> missing, unexpected, mismatched;
    auto params = model->named_parameters();
    std::set<std::string> known;
    torch::NoGradGuard ng;
    for (auto& p : params) {
        known.insert(p.key());
        auto it = tensors.find(p.key());
        if (it == tensors.end()) {
            if (optional(p.key())) {
                if (absent) absent->push_back(p.key());
            } else {
                missing.push_back(p.key());
            }
            continue;
        }
        if (it->second.sizes() != p.value().sizes()) {
            mismatched.push_back(p.key() + " " + sizesText(it->second) + " (model: " + sizesText(p.value()) +
                                 ")");
            continue;
        }
        p.value().copy_(it->second.to(p.value().dtype()));
    }
    for (const auto& kv : tensors)
        if (!known.count(kv.first)) unexpected.push_back(kv.first);
    if (missing.empty() && unexpected.empty() && mismatched.empty()) return;
    std::string msg;
    auto list = [&](const char* what, const std::vector<std::string>& names) {
        if (names.empty()) return;
        msg += std::string(msg.empty() ? "" : "; ") + what + ": ";
        for (size_t i = 0; i < names.size() && i < 12; ++i)
            msg += (i ? ", " : "") + names[i];
        if (names.size() > 12) msg += ", … (" + std::to_string(names.size()) + " in all)";
    };
    list("missing", missing);
    list("unexpected", unexpected);
    list("shape mismatch", mismatched);
    throw Error(source, msg);
}

void checkConfigAgainstWeights(const ModelConfig& c, const std::map<std::string, torch::Tensor>& tensors,
                               const std::string& cfgPath, const std::string& weightsPath,
                               const std::function<std::string(const std::string&)>& field) {
    auto refuse = [&](const std::string& f, int64_t configured, const std::string& stored) {
        throw Error(cfgPath + ": " + field(f),
                    std::to_string(configured) + ", but " + weightsPath + " holds " + stored);
    };
    if (const auto tok = tensors.find("tok.weight"); tok != tensors.end() && tok->second.dim() == 2) {
        if (tok->second.size(1) < c.d_model)
            refuse("d_model", c.d_model, "a token embedding of width " + std::to_string(tok->second.size(1)));
        if (tok->second.size(0) < c.vocab_size)
            refuse("vocab_size", c.vocab_size,
                   "a token embedding of " + std::to_string(tok->second.size(0)) + " rows");
    }
    if (const auto pos = tensors.find("pos.weight");
        pos != tensors.end() && pos->second.dim() == 2 &&
        pos->second.size(0) < c.max_positions + c.position_offset)
        refuse("max_positions", c.max_positions + c.position_offset,
               "a position table of " + std::to_string(pos->second.size(0)) + " rows");
    auto countLayers = [&](const std::string& prefix, const char* fieldName, int64_t configured) {
        std::set<int64_t> layers;
        for (const auto& kv : tensors) {
            if (kv.first.rfind(prefix, 0) != 0) continue;
            const size_t dot = kv.first.find('.', prefix.size());
            const std::string digits = kv.first.substr(
                prefix.size(), dot == std::string::npos ? std::string::npos : dot - prefix.size());
            if (!digits.empty() && digits.size() < 10 &&
                digits.find_first_not_of("0123456789") == std::string::npos)
                layers.insert(std::stoll(digits));
        }
        if (!layers.empty() && int64_t(layers.size()) < configured)
            refuse(fieldName, configured, std::to_string(layers.size()) + " layers");
    };
    countLayers("blocks.", "n_layers", c.n_layers);
    if (c.encoderDecoder()) countLayers("dec_blocks.", "decoder_layers", c.decoder_layers);
    if (const auto w1 = tensors.find("blocks.0.w1.base.weight");
        w1 != tensors.end() && w1->second.dim() == 2 && w1->second.size(0) < c.d_ff)
        refuse("d_ff", c.d_ff, "an FFN of width " + std::to_string(w1->second.size(0)));
}

namespace {

bool isHead(const std::string& name) {
    return name.rfind("classifier.", 0) == 0 || name.rfind("cls_dense.", 0) == 0;
}

}  // namespace

void saveBackbone(const std::string& dir, Transformer& model, const std::vector<std::string>& vocab,
                  const nlohmann::json& info) {
    if (model->hasSpec() && !model->spec().modifications.empty())
        throw Error(dir, "a backbone is saved without delta modules (save it before applying a spec)");
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw Error(dir, "cannot create the folder: " + ec.message());
    std::map<std::string, torch::Tensor> tensors;
    for (const auto& p : model->named_parameters())
        if (!isHead(p.key())) tensors[p.key()] = p.value();
    writeSafetensors(dir + "/model.safetensors", tensors, {{"format", "peft-workbench-backbone"}});
    nlohmann::json cfg = model->config();
    cfg["peft_workbench"] = info;
    std::ofstream(dir + "/config.json") << cfg.dump(2) << "\n";
    std::ofstream voc(dir + "/vocab.txt");
    for (const auto& t : vocab)
        voc << t << "\n";
    if (!voc) throw Error(dir + "/vocab.txt", "write failed");
}

Backbone loadBackbone(const std::string& dir, int64_t num_labels, uint64_t seed, bool random_init) {
    Backbone b;
    b.dir = dir;
    const std::string cfgPath = dir + "/config.json";
    if (!fs::exists(cfgPath)) throw Error(cfgPath, "no such file (is '" + dir + "' a backbone folder?)");
    nlohmann::json j = readJsonFile(cfgPath);
    if (!j.is_object() || !j.contains("peft_workbench")) throw unknownConfigError(cfgPath);
    b.info = j["peft_workbench"];
    j.erase("peft_workbench");
    try {
        b.config = j.get<ModelConfig>();
        if (num_labels > 0) b.config.num_labels = num_labels;
        b.config.validate();
    } catch (const Error& e) {
        throw Error(cfgPath + ": " + e.where(), e.reason());
    }
    b.vocab = readVocabularyFile(dir + "/vocab.txt");
    if (static_cast<int64_t>(b.vocab.size()) != b.config.vocab_size)
        throw Error(dir + "/vocab.txt", std::to_string(b.vocab.size()) +
                                            " tokens, but config.json says vocab_size " +
                                            std::to_string(b.config.vocab_size));
    if (random_init) {
        b.model = makeRandomBackbone(b.config, seed);
        return b;
    }
    const std::string weights = dir + "/model.safetensors";
    const SafetensorsFile st = readSafetensors(weights);
    checkConfigAgainstWeights(b.config, st.tensors, cfgPath, weights, [](const std::string& f) { return f; });
    b.model = makeRandomBackbone(b.config, seed);
    copyInto(b.model, st.tensors, weights, isHead, nullptr);
    return b;
}

void saveTrainable(const std::string& path, const std::map<std::string, torch::Tensor>& state,
                   const Spec& spec, const nlohmann::json& extra) {
    nlohmann::json specJson = spec;
    writeSafetensors(
        path, state,
        {{"format", "peft-workbench-checkpoint"}, {"spec", specJson.dump()}, {"run", extra.dump()}});
}

void loadTrainableInto(Transformer& model, const std::map<std::string, torch::Tensor>& tensors,
                       const std::string& source) {
    std::map<std::string, torch::Tensor> trainableOnly;
    std::set<std::string> trainable;
    for (const auto& p : model->named_parameters())
        if (p.value().requires_grad()) trainable.insert(p.key());
    for (const auto& kv : tensors)
        if (!trainable.count(kv.first))
            throw Error(source,
                        "'" + kv.first + "' is not a trainable parameter of this spec on this backbone");
    // The task head may be absent (a language-modelling run does not train it); it then keeps its
    // initialisation.
    copyInto(
        model, tensors, source,
        [&](const std::string& name) { return !trainable.count(name) || isHead(name); }, nullptr);
}

}  // namespace peft
