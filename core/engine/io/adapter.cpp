// SPDX-License-Identifier: GPL-3.0-or-later
#include "io/adapter.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
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
/// GPT2LMHeadModel.transformer, BartForConditionalGeneration.model).
std::string familyPrefix(const std::string& modelType) {
    if (modelType == "bert") return "bert.";
    if (modelType == "roberta") return "roberta.";
    if (modelType == "gpt2") return "transformer.";
    if (modelType == "bart" || modelType == "mbart") return "model.";
    throw Error(
        "adapter",
        "Hugging Face PEFT adapters need a Hugging Face bert, roberta, gpt2, bart or mbart backbone, not " +
            (modelType.empty() ? std::string("the workbench's own") : "'" + modelType + "'") +
            " (export it in the native format: --format native)");
}

bool encDecType(const std::string& type) {
    return type == "bart" || type == "mbart";
}

/// A kind of module LoRA can sit on in a Hugging Face backbone: its stack, the core's sites it holds
/// (GPT-2's fused c_attn holds q, k and v) and its path inside the base model, the layer number as "{}".
struct HfKind {
    Stack stack;
    std::vector<Site> sites;
    std::string pattern;
};

/// Every kind of LoRA-able module of a family (one table per family).
const std::vector<HfKind>& hfKinds(const std::string& type) {
    static const std::vector<HfKind> gpt2 = {
        {Stack::Encoder, {Site::Wq, Site::Wk, Site::Wv}, "h.{}.attn.c_attn"},
        {Stack::Encoder, {Site::Wo}, "h.{}.attn.c_proj"},
        {Stack::Encoder, {Site::W1}, "h.{}.mlp.c_fc"},
        {Stack::Encoder, {Site::W2}, "h.{}.mlp.c_proj"}};
    static const std::vector<HfKind> bert = {
        {Stack::Encoder, {Site::Wq}, "encoder.layer.{}.attention.self.query"},
        {Stack::Encoder, {Site::Wk}, "encoder.layer.{}.attention.self.key"},
        {Stack::Encoder, {Site::Wv}, "encoder.layer.{}.attention.self.value"},
        {Stack::Encoder, {Site::Wo}, "encoder.layer.{}.attention.output.dense"},
        {Stack::Encoder, {Site::W1}, "encoder.layer.{}.intermediate.dense"},
        {Stack::Encoder, {Site::W2}, "encoder.layer.{}.output.dense"}};
    static const std::vector<HfKind> bart = [] {
        std::vector<HfKind> k;
        const std::pair<Stack, std::string> attentions[] = {
            {Stack::Encoder, "encoder.layers.{}.self_attn."},
            {Stack::Decoder, "decoder.layers.{}.self_attn."},
            {Stack::Cross, "decoder.layers.{}.encoder_attn."}};
        const std::pair<Site, std::string> projections[] = {
            {Site::Wq, "q_proj"}, {Site::Wk, "k_proj"}, {Site::Wv, "v_proj"}, {Site::Wo, "out_proj"}};
        for (const auto& [stack, path] : attentions)
            for (const auto& [site, name] : projections)
                k.push_back({stack, {site}, path + name});
        for (const auto& [stack, path] :
             {std::pair<Stack, std::string>{Stack::Encoder, "encoder.layers.{}."},
              std::pair<Stack, std::string>{Stack::Decoder, "decoder.layers.{}."}}) {
            k.push_back({stack, {Site::W1}, path + "fc1"});
            k.push_back({stack, {Site::W2}, path + "fc2"});
        }
        return k;
    }();
    if (type == "gpt2") return gpt2;
    if (encDecType(type)) return bart;
    return bert;
}

std::string kindPath(const HfKind& k, int64_t layer) {
    std::string p = k.pattern;
    return p.replace(p.find("{}"), 2, std::to_string(layer));
}

/// A kind's pattern as a regular expression, the layer number as `layers` ("\d+", "(?:0|3)", …).
std::string kindRegex(const HfKind& k, const std::string& layers) {
    std::string out;
    for (size_t i = 0; i < k.pattern.size(); ++i) {
        if (k.pattern.compare(i, 2, "{}") == 0) {
            out += layers;
            ++i;
        } else {
            out += k.pattern[i] == '.' ? std::string("\\.") : std::string(1, k.pattern[i]);
        }
    }
    return out;
}

const HfKind& kindOf(const std::string& type, Stack stack, Site site) {
    for (const HfKind& k : hfKinds(type))
        if (k.stack == stack && std::find(k.sites.begin(), k.sites.end(), site) != k.sites.end()) return k;
    throw Error("adapter", "no Hugging Face module for this site");
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

bool attentionSite(Site s) {
    return s == Site::Wq || s == Site::Wk || s == Site::Wv || s == Site::Wo;
}

/// The core's DeltaLinear of a site in a stack's layer.
DeltaLinear& deltaLinear(Transformer& model, Stack stack, int64_t layer, Site s) {
    Block& b = model->stackBlocks(stack).at(size_t(layer));
    switch (s) {
        case Site::Wq:
            return model->attention(stack, size_t(layer))->q;
        case Site::Wk:
            return model->attention(stack, size_t(layer))->k;
        case Site::Wv:
            return model->attention(stack, size_t(layer))->v;
        case Site::Wo:
            return model->attention(stack, size_t(layer))->o;
        case Site::W1:
            return b->w1;
        default:
            return b->w2;
    }
}

/// The core's parameter-name prefix of a LoRA (then "A" / "B").
std::string coreLoraName(Stack stack, int64_t layer, Site s) {
    const std::string block =
        (stack == Stack::Encoder ? "blocks." : "dec_blocks.") + std::to_string(layer) + ".";
    const std::string attn = attentionSite(s) ? (stack == Stack::Cross ? "cross." : "attn.") : "";
    return block + attn + siteLetter(s) + ".lora.";
}

/// The core's parameter name of a stack's layer's prefix keys (P_k) or values (P_v).
std::string corePrefixName(Stack stack, int64_t layer, bool values) {
    return (stack == Stack::Encoder ? "blocks." : "dec_blocks.") + std::to_string(layer) +
           (stack == Stack::Cross ? ".cross" : ".attn") + ".head." + (values ? "P_v" : "P_k");
}

/// PEFT's seq2seq prefix layout: prompt_embeddings [l, 2N·d] viewed as 2N rows of [l, d] (N = num_layers),
/// concatenated with itself to 4N rows and split in fours; decoder layer j reads the four rows 4j … 4j+3
/// (self-attention keys, values; cross-attention keys, values) of the doubled list, i.e. rows
/// (4j + t) mod 2N. Transformers' EncoderDecoderCache then drops the cross-attention part (PEFT sets an empty
/// cross cache), so only t = 0, 1 reach the model; the encoder gets no prefix.
int64_t seq2seqPrefixRow(int64_t layer, int64_t t, int64_t numLayers) {
    return (4 * layer + t) % (2 * numLayers);
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
    if (encDecType(type)) {
        modules = {"classification_head"};
        put("classification_head.dense.weight", model->cls_dense->weight);
        put("classification_head.dense.bias", model->cls_dense->bias);
        put("classification_head.out_proj.weight", model->classifier->weight);
        put("classification_head.out_proj.bias", model->classifier->bias);
    } else if (type == "gpt2") {
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
    static const std::map<std::string, std::string> bart = {
        {"classification_head.dense.weight", "cls_dense.weight"},
        {"classification_head.dense.bias", "cls_dense.bias"},
        {"classification_head.out_proj.weight", "classifier.weight"},
        {"classification_head.out_proj.bias", "classifier.bias"}};
    static const std::map<std::string, std::map<std::string, std::string>> names = {
        {"bart", bart},
        {"mbart", bart},
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

bool suffixMatches(const std::string& path, const std::string& suffix) {
    return path == suffix || endsWith(path, "." + suffix);
}

/// The suffixes of a kind's name after its layer number at dots, shortest first ("q_proj",
/// "self_attn.q_proj").
std::vector<std::string> kindSuffixes(const HfKind& k) {
    const std::string tail = k.pattern.substr(k.pattern.find("{}.") + 3);
    std::vector<std::string> out;
    for (size_t dot = tail.rfind('.');; dot = tail.rfind('.', dot - 1)) {
        out.push_back(dot == std::string::npos ? tail : tail.substr(dot + 1));
        if (dot == std::string::npos || dot == 0) break;
    }
    return out;
}

/// PEFT's target_modules and layers_to_transform for the exported LoRA modules (kind → layers). PEFT matches
/// a list entry as a suffix of a module's name, then keeps the layers in layers_to_transform; a string it
/// full-matches as a regular expression, ignoring layers_to_transform. The list is used when each kind has
/// a suffix that picks no module left out; else one expression names each kind and its layers.
std::pair<json, json> peftTargets(const std::string& type, const ModelConfig& cfg,
                                  const std::map<const HfKind*, std::set<int64_t>>& layersOfKind) {
    std::set<std::string> exported;
    std::set<int64_t> layers;
    for (const auto& [kind, ls] : layersOfKind)
        for (int64_t l : ls) {
            layers.insert(l);
            exported.insert(kindPath(*kind, l));
        }
    std::vector<std::string> modules;  // every LoRA-able module of the backbone in those layers
    for (const HfKind& k : hfKinds(type))
        for (int64_t l : layers)
            if (l < stackLayers(k.stack, cfg)) modules.push_back(kindPath(k, l));
    std::set<std::string> names;
    for (const auto& [kind, ls] : layersOfKind)
        for (const std::string& suffix : kindSuffixes(*kind))
            if (std::all_of(modules.begin(), modules.end(), [&](const std::string& p) {
                    return !suffixMatches(p, suffix) || exported.count(p);
                })) {
                names.insert(suffix);
                break;
            }
    if (std::all_of(layersOfKind.begin(), layersOfKind.end(), [&](const auto& kl) {
            const auto sx = kindSuffixes(*kl.first);
            return std::any_of(sx.begin(), sx.end(),
                               [&](const std::string& x) { return names.count(x) > 0; });
        })) {
        const int64_t all = std::max(cfg.n_layers, cfg.encoderDecoder() ? cfg.decoder_layers : int64_t(0));
        return {json(std::vector<std::string>(names.begin(), names.end())),
                int64_t(layers.size()) == all ? json(nullptr)
                                              : json(std::vector<int64_t>(layers.begin(), layers.end()))};
    }
    std::string alternatives;
    for (const auto& [kind, ls] : layersOfKind) {
        std::string numbers;
        for (int64_t l : ls)
            numbers += (numbers.empty() ? "" : "|") + std::to_string(l);
        const bool every = int64_t(ls.size()) == stackLayers(kind->stack, cfg);
        alternatives +=
            (alternatives.empty() ? "" : "|") + kindRegex(*kind, every ? "\\d+" : "(?:" + numbers + ")");
    }
    return {json("(?:.*\\.)?(?:" + alternatives + ")"), json(nullptr)};
}

AdapterInfo exportHfPeft(const std::string& dir, Transformer& model, const std::string& type,
                         const std::string& baseModel, bool classifier) {
    const Spec& spec = model->spec();
    const ModelConfig& cfg = model->config();
    const std::string prefix = familyPrefix(type);
    const bool encDec = cfg.encoderDecoder();
    if (encDec != encDecType(type))
        throw Error("adapter", "the backbone's layout (" +
                                   std::string(encDec ? "encoder–decoder" : "one stack") +
                                   ") is not a Hugging Face '" + type + "' model");
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
    const json task = classifier       ? json("SEQ_CLS")
                      : type == "gpt2" ? json("CAUSAL_LM")
                      : encDec         ? json("SEQ_2_SEQ_LM")
                                       : json(nullptr);
    json cfgJson = {{"base_model_name_or_path", baseModel},
                    {"revision", nullptr},
                    {"inference_mode", true},
                    {"task_type", task},
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
        // One PEFT module per Hugging Face module; GPT-2's q/k/v LoRAs stack into c_attn.
        struct Module {
            const HfKind* kind = nullptr;
            int64_t layer = 0;
            std::vector<const Modification*> parts;
        };
        std::map<std::string, Module> modules;  // path inside the base model → its LoRAs
        for (const Modification& m : spec.modifications)
            for (Stack stack : stacksOf(m, cfg))
                for (int64_t i = 0; i < stackLayers(stack, cfg); ++i)
                    if (m.appliesTo(i)) {
                        const HfKind& k = kindOf(type, stack, m.site);
                        Module& mod = modules[kindPath(k, i)];
                        mod.kind = &k;
                        mod.layer = i;
                        mod.parts.push_back(&m);
                    }
        std::map<const HfKind*, std::pair<int64_t, double>> rankScale;  // (r, s) of each kind
        std::map<const HfKind*, std::set<int64_t>> layersOfKind;
        auto sOf = [](const Modification* m) { return m->composition == Composition::Add ? 1.0 : m->scale; };
        for (const auto& [path, mod] : modules) {
            torch::NoGradGuard ng;
            const double s0 = sOf(mod.parts.front());
            bool mixed = false;
            int64_t r = 0;
            for (const Modification* m : mod.parts) {
                mixed = mixed || std::abs(sOf(m) - s0) > 1e-12;
                r += m->r;
            }
            std::vector<torch::Tensor> As, Bs;
            for (const Modification* m : mod.parts) {
                auto& lin = deltaLinear(model, mod.kind->stack, mod.layer, m->site);
                As.push_back(lin->lora->A.detach());
                torch::Tensor B = lin->lora->B.detach() * (mixed ? sOf(m) : 1.0);  // fold s when it differs
                if (mod.kind->sites.size() == 3) {  // GPT-2's c_attn: block-diagonal in [q | k | v] rows
                    const int64_t d = cfg.d_model;
                    const int64_t row = m->site == Site::Wq ? 0 : m->site == Site::Wk ? d : 2 * d;
                    torch::Tensor full = torch::zeros({3 * d, B.size(1)}, B.options());
                    full.narrow(0, row, d).copy_(B);
                    B = full;
                }
                Bs.push_back(B);
            }
            const std::string key = kPeftPrefix + prefix + path;
            tensors[key + ".lora_A.weight"] = torch::cat(As, 0);  // [Σr, in]
            tensors[key + ".lora_B.weight"] = torch::cat(Bs, 1);  // [out, Σr]
            const std::pair<int64_t, double> rs = {r, mixed ? 1.0 : s0};
            const auto seen = rankScale.find(mod.kind);
            if (seen != rankScale.end() &&
                (seen->second.first != rs.first || std::abs(seen->second.second - rs.second) > 1e-12))
                throw Error("--format", "LoRA " +
                                            std::string(seen->second.first != rs.first ? "ranks" : "scales") +
                                            " differ across layers at '" + mod.kind->pattern +
                                            "' (export it in the native format: --format native)");
            rankScale[mod.kind] = rs;
            layersOfKind[mod.kind].insert(mod.layer);
        }
        const auto [targetModules, layersToTransform] = peftTargets(type, cfg, layersOfKind);
        // r and lora_alpha are those most kinds have; rank_pattern / alpha_pattern name the others by the
        // shortest suffix that picks no exported module of another (r, s) (else the kind's expression).
        std::map<std::pair<int64_t, double>, int> votes;
        for (const auto& kv : rankScale)
            ++votes[kv.second];
        const auto [r0, s0] = std::max_element(votes.begin(), votes.end(), [](const auto& a, const auto& b) {
                                  return a.second < b.second;
                              })->first;
        json rankPattern = json::object(), alphaPattern = json::object();
        for (const auto& [kind, rs] : rankScale) {
            if (rs == std::pair<int64_t, double>{r0, s0}) continue;
            std::string key = kindRegex(*kind, "\\d+");
            for (const std::string& suffix : kindSuffixes(*kind))
                if (std::all_of(modules.begin(), modules.end(), [&](const auto& pm) {
                        return !suffixMatches(pm.first, suffix) || rankScale.at(pm.second.kind) == rs;
                    })) {
                    key = suffix;
                    break;
                }
            if (rs.first != r0) rankPattern[key] = rs.first;
            if (std::abs(rs.second * double(rs.first) - s0 * double(r0)) > 1e-9)
                alphaPattern[key] = rs.second * double(rs.first);
        }
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
                        {"layers_to_transform", layersToTransform}});
    } else if (prefix1) {
        const Modification& m = spec.modifications[0];
        if (m.composition != Composition::Gated || m.site != Site::HeadAttention || !m.layers.empty())
            throw Error("--format",
                        "PEFT's prefix tuning is a gated prefix at head attention in every layer; '" +
                            m.label() + "' is not (export it in the native format: --format native)");
        if (encDec && stacksOf(m, cfg) != std::vector<Stack>{Stack::Decoder})
            throw Error("--format",
                        "PEFT's prefix tuning of an encoder–decoder reaches the decoder's "
                        "self-attention only; '" +
                            moduleName(m, stacksOf(m, cfg).front(), cfg) +
                            "' sits elsewhere too (give it \"stacks\": [\"decoder\"], or export "
                            "it in the native format: --format native)");
        if (encDec && classifier)
            throw Error("--format",
                        "PEFT passes a classifier's prefix to BART as a one-stack past, a layout "
                        "the workbench does not reproduce (export it in the native format: "
                        "--format native)");
        if (!cfg.prefix_shifts_positions)
            throw Error("--format",
                        "the backbone numbers positions without the prefix, unlike Hugging Face's "
                        "past_key_values (export it in the native format: --format native)");
        info.peft_type = "PREFIX_TUNING";
        torch::NoGradGuard ng;
        const int64_t L = cfg.n_layers, d = cfg.d_model, l = m.l;
        torch::Tensor e = torch::zeros({l, 2 * L, d});
        if (!encDec) {
            const auto prefixes = model->layerPrefixes();
            for (int64_t i = 0; i < L; ++i) {
                e.select(1, 2 * i).copy_(prefixes[size_t(i)].first.detach());
                e.select(1, 2 * i + 1).copy_(prefixes[size_t(i)].second.detach());
            }
        } else {
            const int64_t Ld = cfg.decoder_layers;
            if (Ld > L)
                throw Error("--format", "PEFT sizes the prefix by num_layers, the encoder's " +
                                            std::to_string(L) + ", fewer than the decoder's " +
                                            std::to_string(Ld) +
                                            " (export it in the native format: --format native)");
            const auto prefixes = model->layerPrefixes(Stack::Decoder);
            std::vector<int64_t> owner(size_t(2 * L), -1);
            for (int64_t j = 0; j < Ld; ++j)
                for (int64_t t = 0; t < 2; ++t) {
                    const int64_t row = seq2seqPrefixRow(j, t, L);
                    const auto& p = prefixes[size_t(j)];
                    const torch::Tensor v = (t ? p.second : p.first).detach().to(e.device(), e.scalar_type());
                    if (owner[size_t(row)] < 0) {
                        e.select(1, row).copy_(v);
                        owner[size_t(row)] = j;
                    } else if (!torch::equal(e.select(1, row), v)) {
                        throw Error("--format",
                                    "PEFT's seq2seq layout gives decoder layers " +
                                        std::to_string(owner[size_t(row)]) + " and " + std::to_string(j) +
                                        " one prefix (rows (4j + t) mod 2·num_layers of prompt_embeddings); "
                                        "this run's prefixes differ there (export it in the native format: "
                                        "--format native)");
                    }
                }
        }
        tensors["prompt_embeddings"] = e.reshape({l, 2 * L * d});
        cfgJson.update({{"peft_type", "PREFIX_TUNING"},
                        {"num_virtual_tokens", l},
                        {"num_layers", L},
                        {"token_dim", d},
                        {"num_attention_heads", cfg.n_heads},
                        {"num_transformer_submodules", encDec ? 2 : 1},
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

/// The kind and layer of a LoRA module path inside the base model (no kind: not one of the family's).
std::pair<const HfKind*, int64_t> parseModule(const std::string& type, const std::string& path) {
    for (const HfKind& k : hfKinds(type)) {
        const size_t at = k.pattern.find("{}");
        const std::string head = k.pattern.substr(0, at), tail = k.pattern.substr(at + 2);
        if (path.size() <= head.size() + tail.size() || !startsWith(path, head) || !endsWith(path, tail))
            continue;
        const std::string digits = path.substr(head.size(), path.size() - head.size() - tail.size());
        if (std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
            return {&k, layerIndex(digits, path)};
    }
    return {nullptr, -1};
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
    if (mc.encoderDecoder() != encDecType(type))
        throw Error("adapter", "the backbone's layout (" +
                                   std::string(mc.encoderDecoder() ? "encoder–decoder" : "one stack") +
                                   ") is not a Hugging Face '" + type + "' model");
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
        const bool encDec = mc.encoderDecoder();
        const int64_t submodules = f.integer("num_transformer_submodules", encDec ? 2 : 1);
        if (submodules != (encDec ? 2 : 1))
            throw Error(cfgPath + ": num_transformer_submodules",
                        encDec ? "an encoder–decoder's prefix (task SEQ_2_SEQ_LM) has 2, not " +
                                     std::to_string(submodules)
                               : std::string("only decoder-only / encoder-only models (1)"));
        if (encDec && mc.decoder_layers > L)
            throw Error(cfgPath + ": num_layers", std::to_string(L) +
                                                      " rows of prefixes cannot reach the decoder's " +
                                                      std::to_string(mc.decoder_layers) + " layers");
        Modification m;
        m.form = Form::Prefix;
        m.site = Site::HeadAttention;
        m.composition = Composition::Gated;
        m.l = l;
        if (encDec) m.stacks = {Stack::Decoder};  // PEFT's seq2seq prefix reaches the decoder only
        spec.modifications.push_back(m);
        const torch::Tensor v = e.reshape({l, 2 * L, d});
        const Stack stack = encDec ? Stack::Decoder : Stack::Encoder;
        for (int64_t i = 0; i < stackLayers(stack, mc); ++i)
            for (int64_t t = 0; t < 2; ++t)
                ours[corePrefixName(stack, i, t == 1)] =
                    v.select(1, encDec ? seq2seqPrefixRow(i, t, L) : 2 * i + t).contiguous();
    } else {
        if (f.flag("use_dora", false)) throw Error(cfgPath + ": use_dora", "DoRA is not supported");
        if (f.text("bias", "none") != "none")
            throw Error(cfgPath + ": bias", "only \"none\" is supported (LoRA without trained biases)");
        const double alpha = f.number("lora_alpha", 8.0);
        const bool rslora = f.flag("use_rslora", false);
        const json& rankPattern = f.object("rank_pattern");
        const json& alphaPattern = f.object("alpha_pattern");
        // (stack, site, r, s) → layers
        std::map<std::tuple<Stack, Site, int64_t, double>, std::vector<int64_t>> groups;
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
            const auto [kind, layer] = parseModule(type, inner);
            if (!kind || layer >= stackLayers(kind->stack, mc)) {
                unexpected.push_back(name);
                continue;
            }
            if (!isA) continue;
            const auto bIt = rest.find(path + ".lora_B.weight");
            if (bIt == rest.end()) throw Error(stPath, "'" + name + "' has no lora_B partner");
            const torch::Tensor& A = t;
            const torch::Tensor& B = bIt->second;
            if (A.dim() != 2 || B.dim() != 2 || B.size(1) != A.size(0))
                throw Error(stPath, "'" + path + "': lora_A / lora_B shapes do not fit ([r, in], [out, r])");
            const int64_t r = A.size(0);
            const std::vector<Site>& sites = kind->sites;
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
                groups[{kind->stack, sites[k], r, s}].push_back(layer);
                const std::string base = coreLoraName(kind->stack, layer, sites[k]);
                ours[base + "A"] = A.contiguous();
                ours[base + "B"] =
                    (sites.size() == 3 ? B.narrow(0, int64_t(k) * mc.d_model, mc.d_model) : B).contiguous();
            }
        }
        if (groups.empty() && unexpected.empty())  // (unexpected keys are named below)
            throw Error(stPath, "no LoRA tensors (lora_A / lora_B) for a " + type + " model");
        // One modification per (site, r, s, layers) over the stacks sharing them (no layers: every layer).
        std::map<std::tuple<Site, int64_t, double, std::vector<int64_t>>, std::vector<Stack>> merged;
        for (const auto& [key, layers] : groups) {
            std::vector<int64_t> ls = layers;
            std::sort(ls.begin(), ls.end());
            if (int64_t(ls.size()) == stackLayers(std::get<0>(key), mc)) ls.clear();
            merged[{std::get<1>(key), std::get<2>(key), std::get<3>(key), ls}].push_back(std::get<0>(key));
        }
        for (const auto& [key, stacks] : merged) {
            Modification m;
            m.form = Form::LoRA;
            m.site = std::get<0>(key);
            m.r = std::get<1>(key);
            m.scale = std::get<2>(key);
            m.composition = Composition::Scaled;
            m.init = Init::Lora;
            m.dropout = f.number("lora_dropout", 0.0);
            m.layers = std::get<3>(key);
            if (mc.encoderDecoder() && stacksOf(m, mc) != stacks) m.stacks = stacks;
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
    if (f.text("format", "") != kNativeFormat) return importHfPeft(dir, cfg, model, modelType);

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
