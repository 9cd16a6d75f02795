// SPDX-License-Identifier: GPL-3.0-or-later
#include "io/adapter.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <tuple>

#include <re2/re2.h>

#include "io/backbone.h"
#include "io/safetensors.h"
#include "io/torch_pickle.h"
#include "util/error.h"
#include "util/json_read.h"
#include "util/parse.h"

namespace peft {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr const char* kNativeFormat = "peft-workbench-adapter";
constexpr const char* kPeftPrefix = "base_model.model.";

bool startsWith(const std::string& s, const std::string& p) {
    return s.rfind(p, 0) == 0;
}
bool endsWith(const std::string& s, const std::string& p) {
    return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

/// The base model's attribute in the task models (BertForSequenceClassification.bert,
/// GPT2LMHeadModel.transformer).
std::string familyPrefix(const std::string& modelType) {
    if (modelType == "bert") return "bert.";
    if (modelType == "roberta") return "roberta.";
    if (modelType == "gpt2") return "transformer.";
    throw Error("adapter",
                "Hugging Face PEFT adapters need a Hugging Face bert, roberta or gpt2 backbone, not " +
                    (modelType.empty() ? std::string("the workbench's own") : "'" + modelType + "'") +
                    " (export it in the native format: --format native)");
}

/// Module path of a weight site in layer i, inside the base model. GPT-2's q, k and v share c_attn.
std::string modulePath(const std::string& type, Site site, int64_t i) {
    const std::string n = std::to_string(i);
    if (type == "gpt2") {
        switch (site) {
            case Site::Wq:
            case Site::Wk:
            case Site::Wv:
                return "h." + n + ".attn.c_attn";
            case Site::Wo:
                return "h." + n + ".attn.c_proj";
            case Site::W1:
                return "h." + n + ".mlp.c_fc";
            case Site::W2:
                return "h." + n + ".mlp.c_proj";
            default:
                break;
        }
    } else {
        const std::string l = "encoder.layer." + n + ".";
        switch (site) {
            case Site::Wq:
                return l + "attention.self.query";
            case Site::Wk:
                return l + "attention.self.key";
            case Site::Wv:
                return l + "attention.self.value";
            case Site::Wo:
                return l + "attention.output.dense";
            case Site::W1:
                return l + "intermediate.dense";
            case Site::W2:
                return l + "output.dense";
            default:
                break;
        }
    }
    throw Error("adapter", "no Hugging Face module for this site");
}

/// The unambiguous target_modules name of a site (PEFT matches it as a module-name suffix).
std::string targetName(const std::string& type, Site site) {
    if (type == "gpt2") {
        switch (site) {
            case Site::Wq:
            case Site::Wk:
            case Site::Wv:
                return "c_attn";
            case Site::Wo:
                return "attn.c_proj";
            case Site::W1:
                return "c_fc";
            default:
                return "mlp.c_proj";
        }
    }
    switch (site) {
        case Site::Wq:
            return "query";
        case Site::Wk:
            return "key";
        case Site::Wv:
            return "value";
        case Site::Wo:
            return "attention.output.dense";
        case Site::W1:
            return "intermediate.dense";
        default:
            return "";  // "output.dense" would also match attention.output.dense: a regex says it exactly
    }
}

const char* siteLetter(Site s) {
    switch (s) {
        case Site::Wq:
            return "q";
        case Site::Wk:
            return "k";
        case Site::Wv:
            return "v";
        case Site::Wo:
            return "o";
        case Site::W1:
            return "w1";
        default:
            return "w2";
    }
}

/// The core's DeltaLinear of a site in a block.
DeltaLinear& deltaLinear(Block& b, Site s) {
    switch (s) {
        case Site::Wq:
            return b->attn->q;
        case Site::Wk:
            return b->attn->k;
        case Site::Wv:
            return b->attn->v;
        case Site::Wo:
            return b->attn->o;
        case Site::W1:
            return b->w1;
        default:
            return b->w2;
    }
}

std::string blockParam(int64_t layer, Site s) {
    const bool attn = s == Site::Wq || s == Site::Wk || s == Site::Wv || s == Site::Wo;
    return "blocks." + std::to_string(layer) + "." + (attn ? "attn." : "") + siteLetter(s) + ".lora.";
}

void writeJsonFile(const std::string& path, const json& j) {
    std::ofstream out(path);
    out << j.dump(2) << "\n";
    if (!out) throw Error(path, "write failed");
}

/// Head tensors of `model` under Hugging Face's names (modules_to_save) and the module names.
std::map<std::string, torch::Tensor> headTensors(Transformer& model, const std::string& type,
                                                 std::vector<std::string>& modules) {
    std::map<std::string, torch::Tensor> out;
    auto put = [&](const std::string& name, const torch::Tensor& t) { out[kPeftPrefix + name] = t.detach(); };
    if (type == "gpt2") {
        modules = {"score"};
        put("score.weight", model->classifier->weight);
    } else if (type == "roberta") {
        modules = {"classifier"};
        put("classifier.dense.weight", model->cls_dense->weight);
        put("classifier.dense.bias", model->cls_dense->bias);
        put("classifier.out_proj.weight", model->classifier->weight);
        put("classifier.out_proj.bias", model->classifier->bias);
    } else {
        modules = {"classifier", "pooler"};
        put("bert.pooler.dense.weight", model->cls_dense->weight);
        put("bert.pooler.dense.bias", model->cls_dense->bias);
        put("classifier.weight", model->classifier->weight);
        put("classifier.bias", model->classifier->bias);
    }
    return out;
}

/// Hugging Face head names (after base_model.model.) → the core's.
std::string coreHeadName(const std::string& type, const std::string& name) {
    static const std::map<std::string, std::map<std::string, std::string>> names = {
        {"gpt2", {{"score.weight", "classifier.weight"}}},
        {"roberta",
         {{"classifier.dense.weight", "cls_dense.weight"},
          {"classifier.dense.bias", "cls_dense.bias"},
          {"classifier.out_proj.weight", "classifier.weight"},
          {"classifier.out_proj.bias", "classifier.bias"}}},
        {"bert",
         {{"bert.pooler.dense.weight", "cls_dense.weight"},
          {"bert.pooler.dense.bias", "cls_dense.bias"},
          {"classifier.weight", "classifier.weight"},
          {"classifier.bias", "classifier.bias"}}}};
    const auto fam = names.find(type);
    if (fam == names.end()) return {};
    const auto it = fam->second.find(name);
    return it == fam->second.end() ? std::string() : it->second;
}

// ----- export ---------------------------------------------------------------------------------------------

AdapterInfo exportNative(const std::string& dir, Transformer& model, const std::string& baseModel,
                         bool classifier) {
    AdapterInfo info;
    info.format = "native";
    info.spec = model->spec();
    info.has_head = classifier;
    std::map<std::string, torch::Tensor> tensors;
    for (const auto& p : model->named_parameters())
        if (p.value().requires_grad()) {
            const bool head = startsWith(p.key(), "classifier.") || startsWith(p.key(), "cls_dense.");
            if (!head || classifier) tensors[p.key()] = p.value().detach();
        }
    info.config = {{"format", kNativeFormat},
                   {"version", 1},
                   {"spec", model->spec()},
                   {"backbone", model->config()},
                   {"base_model_name_or_path", baseModel},
                   {"has_head", classifier}};
    writeSafetensors(dir + "/adapter_model.safetensors", tensors, {{"format", kNativeFormat}});
    writeJsonFile(dir + "/adapter_config.json", info.config);
    return info;
}

AdapterInfo exportHfPeft(const std::string& dir, Transformer& model, const std::string& type,
                         const std::string& baseModel, bool classifier) {
    const Spec& spec = model->spec();
    const ModelConfig& cfg = model->config();
    const std::string prefix = familyPrefix(type);
    if (spec.train_base != TrainBase::None)
        throw Error("--format", "'" + spec.name +
                                    "' trains backbone weights: PEFT's LoRA / prefix tuning cannot "
                                    "hold them (export it in the native format: --format native)");
    const bool allLora = !spec.modifications.empty() &&
                         std::all_of(spec.modifications.begin(), spec.modifications.end(),
                                     [](const Modification& m) { return m.form == Form::LoRA; });
    const bool prefix1 = spec.modifications.size() == 1 && spec.modifications[0].form == Form::Prefix;
    AdapterInfo info;
    info.format = "hf-peft";
    info.spec = spec;
    info.has_head = classifier;
    std::map<std::string, torch::Tensor> tensors;
    std::vector<std::string> headModules;
    if (classifier) tensors = headTensors(model, type, headModules);
    json cfgJson = {
        {"base_model_name_or_path", baseModel},
        {"revision", nullptr},
        {"inference_mode", true},
        {"task_type", classifier ? json("SEQ_CLS") : json(type == "gpt2" ? "CAUSAL_LM" : nullptr)},
        {"modules_to_save", classifier ? json(headModules) : json(nullptr)}};

    if (allLora) {
        info.peft_type = "LORA";
        for (const Modification& m : spec.modifications) {
            if (m.composition != Composition::Scaled && m.composition != Composition::Add)
                throw Error("--format",
                            "LoRA with " +
                                std::string(m.composition == Composition::LearnedScale ? "a learned scale"
                                                                                       : "a gate") +
                                " has no PEFT counterpart (export it in the native format: --format native)");
        }
        // One PEFT module per (layer, target); GPT-2's q/k/v LoRAs stack into c_attn.
        struct Part {
            torch::Tensor A, B;  // [r, in], [out, r], B already scaled by s / scaling
        };
        std::map<std::string, int64_t> rankOf;   // target name → rank (must agree across layers)
        std::map<std::string, double> scaleOf;   // target name → s (when every part agrees)
        std::map<std::string, bool> mixedScale;  // target name → parts with different s (folded into B)
        std::set<int64_t> layers;
        std::set<std::string> targets;
        std::vector<std::string> regexParts;
        for (int64_t i = 0; i < cfg.n_layers; ++i) {
            std::map<std::string, std::vector<std::pair<Site, const Modification*>>> byModule;
            for (const Modification& m : spec.modifications)
                if (m.appliesTo(i)) byModule[modulePath(type, m.site, i)].push_back({m.site, &m});
            for (auto& [path, sites] : byModule) {
                layers.insert(i);
                const std::string target = targetName(type, sites.front().first);
                targets.insert(target.empty() ? "output.dense" : target);
                if (target.empty()) regexParts.push_back("output\\.dense");
                torch::NoGradGuard ng;
                std::vector<torch::Tensor> As, Bs;
                double s0 =
                    sites.front().second->composition == Composition::Add ? 1.0 : sites.front().second->scale;
                bool mixed = false;
                int64_t r = 0;
                for (const auto& [site, m] : sites) {
                    const double s = m->composition == Composition::Add ? 1.0 : m->scale;
                    if (std::abs(s - s0) > 1e-12) mixed = true;
                    r += m->r;
                }
                for (const auto& [site, m] : sites) {
                    const double s = m->composition == Composition::Add ? 1.0 : m->scale;
                    auto& lin = deltaLinear(model->blocks[size_t(i)], site);
                    As.push_back(lin->lora->A.detach());
                    torch::Tensor B = lin->lora->B.detach() * (mixed ? s : 1.0);  // fold s when it differs
                    if (type == "gpt2" && path.find("c_attn") != std::string::npos) {
                        // Block-diagonal in the fused [q | k | v] output rows.
                        const int64_t d = cfg.d_model;
                        const int64_t row = site == Site::Wq ? 0 : site == Site::Wk ? d : 2 * d;
                        torch::Tensor full = torch::zeros({3 * d, B.size(1)});
                        full.narrow(0, row, d).copy_(B);
                        B = full;
                    }
                    Bs.push_back(B);
                }
                const std::string key = kPeftPrefix + prefix + path;
                tensors[key + ".lora_A.weight"] = torch::cat(As, 0);  // [Σr, in]
                tensors[key + ".lora_B.weight"] = torch::cat(Bs, 1);  // [out, Σr]
                const std::string t = target.empty() ? "output.dense" : target;
                if (rankOf.count(t) && rankOf[t] != r)
                    throw Error("--format", "LoRA ranks differ across layers at '" + t +
                                                "' (export it in the native format: --format native)");
                rankOf[t] = r;
                mixedScale[t] = mixedScale[t] || mixed;
                const double s = mixed ? 1.0 : s0;
                if (scaleOf.count(t) && std::abs(scaleOf[t] - s) > 1e-12)
                    throw Error("--format", "LoRA scales differ across layers at '" + t +
                                                "' (export it in the native format: --format native)");
                scaleOf[t] = s;
            }
        }
        const int64_t r0 = rankOf.begin()->second;
        const double s0 = scaleOf.begin()->second;
        json rankPattern = json::object(), alphaPattern = json::object();
        for (const auto& [t, r] : rankOf) {
            if (r != r0) rankPattern[t] = r;
            if (std::abs(scaleOf[t] * double(r) - s0 * double(r0)) > 1e-9)
                alphaPattern[t] = scaleOf[t] * double(r);
        }
        json targetModules;
        if (regexParts.empty()) {
            targetModules = json(std::vector<std::string>(targets.begin(), targets.end()));
        } else {  // "output.dense" is a suffix of "attention.output.dense" too: name the modules exactly
            std::string alt;
            for (const auto& t : targets) {
                std::string e =
                    t == "output.dense" ? "output\\.dense" : std::regex_replace(t, std::regex("\\."), "\\.");
                if (t == "query" || t == "key" || t == "value") e = "attention\\.self\\." + t;
                alt += (alt.empty() ? "" : "|") + e;
            }
            targetModules = ".*encoder\\.layer\\.\\d+\\.(" + alt + ")";
        }
        std::vector<int64_t> layerList(layers.begin(), layers.end());
        cfgJson.update({{"peft_type", "LORA"},
                        {"r", r0},
                        {"lora_alpha", s0 * double(r0)},
                        {"lora_dropout", spec.modifications.front().dropout},
                        {"target_modules", targetModules},
                        {"bias", "none"},
                        {"fan_in_fan_out", type == "gpt2"},
                        {"use_rslora", false},
                        {"use_dora", false},
                        {"init_lora_weights", true},
                        {"rank_pattern", rankPattern},
                        {"alpha_pattern", alphaPattern},
                        {"layers_to_transform",
                         int64_t(layerList.size()) == cfg.n_layers ? json(nullptr) : json(layerList)}});
    } else if (prefix1) {
        const Modification& m = spec.modifications[0];
        if (m.composition != Composition::Gated || m.site != Site::HeadAttention || !m.layers.empty())
            throw Error("--format",
                        "PEFT's prefix tuning is a gated prefix at head attention in every layer; '" +
                            m.label() + "' is not (export it in the native format: --format native)");
        if (!cfg.prefix_shifts_positions)
            throw Error("--format",
                        "the backbone numbers positions without the prefix, unlike Hugging Face's "
                        "past_key_values (export it in the native format: --format native)");
        info.peft_type = "PREFIX_TUNING";
        torch::NoGradGuard ng;
        const auto prefixes = model->layerPrefixes();
        const int64_t L = cfg.n_layers, d = cfg.d_model, l = m.l;
        torch::Tensor e = torch::zeros({l, 2 * L, d});
        for (int64_t i = 0; i < L; ++i) {
            e.select(1, 2 * i).copy_(prefixes[size_t(i)].first.detach());
            e.select(1, 2 * i + 1).copy_(prefixes[size_t(i)].second.detach());
        }
        tensors["prompt_embeddings"] = e.reshape({l, 2 * L * d});
        cfgJson.update({{"peft_type", "PREFIX_TUNING"},
                        {"num_virtual_tokens", l},
                        {"num_layers", L},
                        {"token_dim", d},
                        {"num_attention_heads", cfg.n_heads},
                        {"num_transformer_submodules", 1},
                        {"encoder_hidden_size", d},
                        {"prefix_projection", false}});
    } else {
        throw Error("--format", "'" + spec.name +
                                    "' is neither LoRA nor prefix tuning, the two methods PEFT and the "
                                    "workbench share (export it in the native format: --format native)");
    }
    info.config = cfgJson;
    writeSafetensors(dir + "/adapter_model.safetensors", tensors, {{"format", "pt"}});
    writeJsonFile(dir + "/adapter_config.json", cfgJson);
    return info;
}

// ----- import ---------------------------------------------------------------------------------------------

/// (layer, sites) of a LoRA module path inside the base model, or layer −1.
std::pair<int64_t, std::vector<Site>> parseModule(const std::string& type, const std::string& path) {
    static const std::regex gpt2(R"(h\.(\d+)\.(attn\.c_attn|attn\.c_proj|mlp\.c_fc|mlp\.c_proj))");
    static const std::regex bert(
        R"(encoder\.layer\.(\d+)\.(attention\.self\.query|attention\.self\.key|attention\.self\.value|attention\.output\.dense|intermediate\.dense|output\.dense))");
    std::smatch m;
    if (type == "gpt2" && std::regex_match(path, m, gpt2)) {
        const std::string w = m[2];
        const int64_t layer = layerIndex(m[1], path);
        if (w == "attn.c_attn") return {layer, {Site::Wq, Site::Wk, Site::Wv}};
        return {layer, {w == "attn.c_proj" ? Site::Wo : w == "mlp.c_fc" ? Site::W1 : Site::W2}};
    }
    if (type != "gpt2" && std::regex_match(path, m, bert)) {
        const std::string w = m[2];
        const int64_t layer = layerIndex(m[1], path);
        Site s = Site::W2;
        if (w == "attention.self.query") s = Site::Wq;
        if (w == "attention.self.key") s = Site::Wk;
        if (w == "attention.self.value") s = Site::Wv;
        if (w == "attention.output.dense") s = Site::Wo;
        if (w == "intermediate.dense") s = Site::W1;
        return {layer, {s}};
    }
    return {-1, {}};
}

/// PEFT's pattern lookup (rank_pattern / alpha_pattern): the first key for which `(.*\.)?(KEY)$` matches the
/// whole module name. A key of plain name characters matches the name or a dotted suffix of it; any other
/// key is a regular expression run by RE2, whose matching time is linear in the name (no backtracking
/// pattern can hang it). `where` names the field ("adapter_config.json: rank_pattern").
std::optional<double> patternValue(const json& pattern, const std::string& module, const std::string& where) {
    if (pattern.is_null()) return std::nullopt;
    if (!pattern.is_object()) throw Error(where, "must be an object {module pattern: value}");
    for (auto it = pattern.begin(); it != pattern.end(); ++it) {
        const std::string& key = it.key();
        const bool plain = std::all_of(key.begin(), key.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
        });
        bool match = false;
        if (plain) {
            match = module == key || endsWith(module, "." + key);
        } else {
            RE2::Options o;
            o.set_log_errors(false);
            o.set_max_mem(int64_t(8) << 20);
            const RE2 re("(?:.*\\.)?(?:" + key + ")", o);
            if (!re.ok())
                throw Error(where + "." + key.substr(0, 80),
                            "not a regular expression this reader accepts (RE2: " + re.error() + ")");
            match = RE2::FullMatch(module, re);
        }
        if (match) return JsonFields::numberValue(*it, where + "." + key.substr(0, 80));
    }
    return std::nullopt;
}

AdapterInfo importHfPeft(const std::string& dir, const json& cfg, Transformer& model,
                         const std::string& type) {
    const std::string cfgPath = dir + "/adapter_config.json";
    const JsonFields f(cfg, cfgPath);
    const std::string peftType = f.text("peft_type", "");
    if (peftType != "LORA" && peftType != "PREFIX_TUNING")
        throw Error(cfgPath + ": peft_type",
                    "'" + peftType + "' is not supported (supported: LORA, PREFIX_TUNING)");
    // PEFT writes adapter_model.safetensors (older versions adapter_model.bin, a PyTorch checkpoint).
    std::string stPath = dir + "/adapter_model.safetensors";
    if (!fs::exists(stPath) && fs::exists(dir + "/adapter_model.bin")) stPath = dir + "/adapter_model.bin";
    if (!fs::exists(stPath)) throw Error(dir, "no adapter_model.safetensors (or adapter_model.bin)");
    const std::map<std::string, torch::Tensor> raw = readTensorFile(stPath);
    const std::string familyPre = familyPrefix(type);
    const ModelConfig& mc = model->config();
    AdapterInfo info;
    info.format = "hf-peft";
    info.peft_type = peftType;
    info.config = cfg;
    std::map<std::string, torch::Tensor> ours;  // core names → tensors
    std::vector<std::string> unexpected;

    // Heads (modules_to_save) first: the same for both types.
    std::map<std::string, torch::Tensor> rest;
    for (const auto& [key, t] : raw) {
        std::string name = startsWith(key, kPeftPrefix) ? key.substr(std::string(kPeftPrefix).size()) : key;
        const std::string head = coreHeadName(type, name);
        if (!head.empty()) {
            ours[head] = t;
            info.has_head = true;
        } else {
            rest[name] = t;
        }
    }

    Spec spec;
    spec.name = peftType == "LORA" ? "imported LoRA" : "imported prefix tuning";
    if (peftType == "PREFIX_TUNING") {
        const auto it = rest.find("prompt_embeddings");
        if (it == rest.end()) throw Error(stPath, "no prompt_embeddings tensor");
        for (const auto& kv : rest)
            if (kv.first != "prompt_embeddings") unexpected.push_back(kv.first);
        const torch::Tensor& e = it->second;
        const int64_t L = mc.n_layers, d = mc.d_model;
        const int64_t l = f.integer("num_virtual_tokens", e.dim() == 2 ? e.size(0) : int64_t(0));
        if (f.integer("num_layers", L) != L || f.integer("token_dim", d) != d ||
            f.integer("num_attention_heads", mc.n_heads) != mc.n_heads)
            throw Error(cfgPath, "num_layers / token_dim / num_attention_heads (" +
                                     std::to_string(f.integer("num_layers", L)) + ", " +
                                     std::to_string(f.integer("token_dim", d)) + ", " +
                                     std::to_string(f.integer("num_attention_heads", mc.n_heads)) +
                                     ") do not match the backbone (" + std::to_string(L) + ", " +
                                     std::to_string(d) + ", " + std::to_string(mc.n_heads) + ")");
        if (e.dim() != 2 || e.size(0) != l || e.size(1) != 2 * L * d)
            throw Error(stPath + ": prompt_embeddings",
                        "expected shape [" + std::to_string(l) + ", " + std::to_string(2 * L * d) + "]");
        if (f.integer("num_transformer_submodules", 1) != 1)
            throw Error(cfgPath + ": num_transformer_submodules",
                        "only decoder-only / encoder-only models (1)");
        Modification m;
        m.form = Form::Prefix;
        m.site = Site::HeadAttention;
        m.composition = Composition::Gated;
        m.l = l;
        spec.modifications.push_back(m);
        const torch::Tensor v = e.reshape({l, 2 * L, d});
        for (int64_t i = 0; i < L; ++i) {
            ours["blocks." + std::to_string(i) + ".attn.head.P_k"] = v.select(1, 2 * i).contiguous();
            ours["blocks." + std::to_string(i) + ".attn.head.P_v"] = v.select(1, 2 * i + 1).contiguous();
        }
    } else {
        if (f.flag("use_dora", false)) throw Error(cfgPath + ": use_dora", "DoRA is not supported");
        if (f.text("bias", "none") != "none")
            throw Error(cfgPath + ": bias", "only \"none\" is supported (LoRA without trained biases)");
        const double alpha = f.number("lora_alpha", 8.0);
        const bool rslora = f.flag("use_rslora", false);
        const json& rankPattern = f.object("rank_pattern");
        const json& alphaPattern = f.object("alpha_pattern");
        // (site, r, s) → layers
        std::map<std::tuple<Site, int64_t, double>, std::vector<int64_t>> groups;
        std::set<std::string> modules;
        for (const auto& [name, t] : rest) {
            std::string path;
            bool isA = false;
            if (endsWith(name, ".lora_A.weight")) {
                path = name.substr(0, name.size() - 14);
                isA = true;
            } else if (endsWith(name, ".lora_B.weight")) {
                path = name.substr(0, name.size() - 14);
            } else {
                unexpected.push_back(name);
                continue;
            }
            const std::string inner = startsWith(path, familyPre) ? path.substr(familyPre.size()) : path;
            const auto [layer, sites] = parseModule(type, inner);
            if (layer < 0 || layer >= mc.n_layers) {
                unexpected.push_back(name);
                continue;
            }
            if (!isA) continue;
            const auto bIt = rest.find(path + ".lora_B.weight");
            if (bIt == rest.end()) throw Error(stPath, "'" + name + "' has no lora_B partner");
            const torch::Tensor& A = t;
            const torch::Tensor& B = bIt->second;
            const int64_t r = A.size(0);
            if (A.dim() != 2 || B.dim() != 2 || B.size(1) != r)
                throw Error(stPath, "'" + path + "': lora_A / lora_B shapes do not fit ([r, in], [out, r])");
            const int64_t out = B.size(0);
            const int64_t expectOut =
                sites.size() == 3 ? 3 * mc.d_model : (sites[0] == Site::W1 ? mc.d_ff : mc.d_model);
            if (out != expectOut)
                throw Error(stPath, "'" + path + "': lora_B has " + std::to_string(out) +
                                        " rows, the module " + std::to_string(expectOut) + " outputs");
            const double rr = patternValue(rankPattern, inner, f.where("rank_pattern")).value_or(double(r));
            if (rr != double(r))
                throw Error(stPath, "'" + path + "': rank " + std::to_string(r) + " but the config says " +
                                        std::to_string(rr));
            const double a = patternValue(alphaPattern, inner, f.where("alpha_pattern")).value_or(alpha);
            const double s = rslora ? a / std::sqrt(double(r)) : a / double(r);
            for (size_t k = 0; k < sites.size(); ++k) {
                const Site site = sites[k];
                groups[{site, r, s}].push_back(layer);
                const std::string base = blockParam(layer, site);
                ours[base + "A"] = A.contiguous();
                ours[base + "B"] =
                    (sites.size() == 3 ? B.narrow(0, int64_t(k) * mc.d_model, mc.d_model) : B).contiguous();
            }
            modules.insert(path);
        }
        if (groups.empty()) throw Error(stPath, "no LoRA tensors (lora_A / lora_B) for a " + type + " model");
        for (const auto& [key, layers] : groups) {
            Modification m;
            m.form = Form::LoRA;
            m.site = std::get<0>(key);
            m.r = std::get<1>(key);
            m.scale = std::get<2>(key);
            m.composition = Composition::Scaled;
            m.init = Init::Lora;
            m.dropout = f.number("lora_dropout", 0.0);
            std::vector<int64_t> ls = layers;
            std::sort(ls.begin(), ls.end());
            if (int64_t(ls.size()) != mc.n_layers) m.layers = ls;
            spec.modifications.push_back(m);
        }
    }
    if (!unexpected.empty()) {
        std::string list;
        for (size_t i = 0; i < unexpected.size() && i < 12; ++i)
            list += (i ? ", " : "") + unexpected[i];
        throw Error(stPath,
                    "keys the " + peftType + " importer does not know for a " + type + " model: " + list);
    }
    try {
        model->applySpec(spec);
    } catch (const Error& e) {
        throw Error(cfgPath + ": " + e.where(), e.reason());
    }
    if (info.has_head) {
        const auto w = ours.find("classifier.weight");
        if (w != ours.end() && w->second.size(0) != mc.num_labels)
            throw Error(stPath, "the adapter's head has " + std::to_string(w->second.size(0)) +
                                    " labels; the backbone was loaded for " + std::to_string(mc.num_labels));
    }
    loadTrainableInto(model, ours, stPath);
    info.spec = model->spec();
    return info;
}

}  // namespace

AdapterInfo exportAdapter(const std::string& dir, const std::string& format, Transformer& model,
                          const std::string& modelType, const std::string& baseModel, bool classifier) {
    if (format != "hf-peft" && format != "native")
        throw Error("--format", "expected hf-peft or native, got '" + format + "'");
    if (!model->hasSpec()) throw Error("adapter", "the model has no spec applied");
    if (format == "hf-peft" && model->config().encoderDecoder())
        throw Error("--format", "hf-peft adapters of encoder–decoders (" + modelType +
                                    ") are not written yet; use --format native");
    std::error_code ec;
    const bool existed = fs::exists(dir);
    fs::create_directories(dir, ec);
    if (ec) throw Error(dir, "cannot create the folder: " + ec.message());
    try {
        return format == "native" ? exportNative(dir, model, baseModel, classifier)
                                  : exportHfPeft(dir, model, modelType, baseModel, classifier);
    } catch (...) {
        if (!existed && fs::is_empty(dir, ec)) fs::remove(dir, ec);  // leave nothing behind a refusal
        throw;
    }
}

AdapterInfo importAdapter(const std::string& dir, Transformer& model, const std::string& modelType) {
    if (model->hasSpec()) throw Error("adapter", "the backbone already has a spec applied");
    const std::string cfgPath = dir + "/adapter_config.json";
    if (!fs::exists(cfgPath)) throw Error(dir, "not an adapter folder (no adapter_config.json)");
    const json cfg = readJsonFile(cfgPath);
    const JsonFields f(cfg, cfgPath);
    if (f.text("format", "") != kNativeFormat) {
        if (model->config().encoderDecoder())
            throw Error(cfgPath, "Hugging Face PEFT adapters of encoder–decoders (" + modelType +
                                     ") are not read yet; native adapters are");
        return importHfPeft(dir, cfg, model, modelType);
    }

    AdapterInfo info;
    info.format = "native";
    info.config = cfg;
    Spec spec;
    try {
        spec = specFromJson(cfg.at("spec"));
    } catch (const Error& e) {
        throw Error(cfgPath + ": spec." + e.where(), e.reason());
    } catch (const json::exception&) {
        throw Error(cfgPath, "no \"spec\" object");
    }
    try {
        model->applySpec(spec);
    } catch (const Error& e) {
        throw Error(cfgPath + ": spec." + e.where(), e.reason());
    }
    loadTrainableInto(model, readSafetensors(dir + "/adapter_model.safetensors").tensors,
                      dir + "/adapter_model.safetensors");
    info.spec = spec;
    info.has_head = f.flag("has_head", false);
    return info;
}

}  // namespace peft
