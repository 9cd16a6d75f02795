// SPDX-License-Identifier: GPL-3.0-or-later
#include "peft/spec.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include <nlohmann/json.hpp>

#include "util/enum_table.h"
#include "util/error.h"
#include "util/json_read.h"

namespace peft {

namespace {

constexpr EnumName<Form> kForms[] = {{Form::Adapter, "adapter"}, {Form::LoRA, "lora"},
                                     {Form::Prefix, "prefix"},   {Form::MultiHeadRelu, "mh_relu"},
                                     {Form::IA3, "ia3"},         {Form::Prompt, "prompt"}};
constexpr EnumName<Site> kSites[] = {{Site::Attention, "attention"},
                                     {Site::HeadAttention, "head_attention"},
                                     {Site::FFN, "ffn"},
                                     {Site::Wq, "W_q"},
                                     {Site::Wk, "W_k"},
                                     {Site::Wv, "W_v"},
                                     {Site::Wo, "W_o"},
                                     {Site::W1, "W_1"},
                                     {Site::W2, "W_2"},
                                     {Site::Input, "input"}};
constexpr EnumName<Insertion> kInsertions[] = {{Insertion::Sequential, "sequential"},
                                               {Insertion::Parallel, "parallel"}};
constexpr EnumName<Composition> kCompositions[] = {{Composition::Add, "add"},
                                                   {Composition::Scaled, "scaled"},
                                                   {Composition::LearnedScale, "learned_scale"},
                                                   {Composition::Gated, "gated"},
                                                   {Composition::LearnedGate, "learned_gate"},
                                                   {Composition::Rescale, "rescale"}};
constexpr EnumName<AdapterNorm> kNorms[] = {
    {AdapterNorm::None, "none"}, {AdapterNorm::In, "in"}, {AdapterNorm::Out, "out"}};
constexpr EnumName<Init> kInits[] = {{Init::Bert, "bert"}, {Init::Lora, "lora"}};
constexpr EnumName<Stack> kStacks[] = {
    {Stack::Encoder, "encoder"}, {Stack::Decoder, "decoder"}, {Stack::Cross, "cross"}};
constexpr EnumName<TrainBase> kTrainBase[] = {
    {TrainBase::None, "none"}, {TrainBase::Biases, "biases"}, {TrainBase::All, "all"}};

std::string fmtNumber(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

}  // namespace

const char* toString(Form v) {
    return enumName(kForms, v);
}
const char* toString(Site v) {
    return enumName(kSites, v);
}
const char* toString(Insertion v) {
    return enumName(kInsertions, v);
}
const char* toString(Composition v) {
    return enumName(kCompositions, v);
}
const char* toString(AdapterNorm v) {
    return enumName(kNorms, v);
}
const char* toString(Init v) {
    return enumName(kInits, v);
}
const char* toString(TrainBase v) {
    return enumName(kTrainBase, v);
}
const char* toString(Stack v) {
    return enumName(kStacks, v);
}

bool siteInStack(Site site, Stack stack) {
    switch (stack) {
        case Stack::Encoder:
            return true;
        case Stack::Decoder:
            return site != Site::Input;
        case Stack::Cross:
            return site == Site::Attention || site == Site::HeadAttention || site == Site::Wq ||
                   site == Site::Wk || site == Site::Wv || site == Site::Wo;
    }
    return false;
}

std::vector<Stack> stacksOf(const Modification& m, const ModelConfig& cfg) {
    if (!cfg.encoderDecoder()) return {Stack::Encoder};
    std::vector<Stack> out;
    for (Stack s : {Stack::Encoder, Stack::Decoder, Stack::Cross}) {
        const bool listed = m.stacks.empty()
                                ? siteInStack(m.site, s)
                                : std::find(m.stacks.begin(), m.stacks.end(), s) != m.stacks.end();
        if (listed) out.push_back(s);
    }
    return out;
}

int64_t stackLayers(Stack s, const ModelConfig& cfg) {
    return s == Stack::Encoder ? cfg.n_layers : cfg.decoder_layers;
}

std::string moduleName(const Modification& m, Stack s, const ModelConfig& cfg) {
    return cfg.encoderDecoder() ? m.label() + ":" + toString(s) : m.label();
}

const char* siteDisplay(Site v) {
    switch (v) {
        case Site::Attention:
            return "attention";
        case Site::HeadAttention:
            return "head attention";
        case Site::FFN:
            return "FFN";
        case Site::Input:
            return "input";
        default:
            return toString(v);
    }
}

bool isWeightSite(Site s) {
    return s == Site::Wq || s == Site::Wk || s == Site::Wv || s == Site::Wo || s == Site::W1 || s == Site::W2;
}

std::string Modification::label() const {
    if (!name.empty()) return name;
    return std::string(toString(form)) + "@" + toString(site);
}

bool Modification::appliesTo(int64_t layer) const {
    return layers.empty() || std::find(layers.begin(), layers.end(), layer) != layers.end();
}

bool Spec::hasGating() const {
    return std::any_of(modifications.begin(), modifications.end(), [](const Modification& m) {
        return m.form == Form::Prefix && m.composition == Composition::Gated;
    });
}

void to_json(nlohmann::json& j, const Modification& m) {
    j = nlohmann::json::object();
    if (!m.name.empty()) j["name"] = m.name;
    j["form"] = toString(m.form);
    j["site"] = toString(m.site);
    j["insertion"] = toString(m.insertion);
    j["composition"] = toString(m.composition);
    if (m.composition == Composition::Scaled || m.composition == Composition::LearnedScale)
        j["scale"] = m.scale;
    if (m.usesR()) j["r"] = m.r;
    if (m.usesL()) j["l"] = m.l;
    if (m.form == Form::Adapter) {
        j["activation"] = toString(m.activation);
        j["layernorm"] = toString(m.layernorm);
    }
    if (m.form == Form::Adapter || m.form == Form::LoRA) {
        j["init"] = toString(m.init);
        j["dropout"] = m.dropout;
    }
    if (m.form == Form::Prefix) {
        j["prefix_mlp"] = m.prefix_mlp;
        if (m.prefix_mlp) j["mlp_width"] = m.mlp_width;
    }
    if (!m.layers.empty()) j["layers"] = m.layers;
    if (!m.stacks.empty()) {
        j["stacks"] = nlohmann::json::array();
        for (Stack st : m.stacks)
            j["stacks"].push_back(toString(st));
    }
}

void to_json(nlohmann::json& j, const Spec& s) {
    j = nlohmann::json{{"name", s.name}, {"train_base", toString(s.train_base)}};
    j["modifications"] = nlohmann::json::array();
    for (const auto& m : s.modifications)
        j["modifications"].push_back(m);
}

namespace {

Modification modificationFromJson(const nlohmann::json& j, const std::string& path) {
    JsonReader r(j, path);
    Modification m;
    std::string s;
    r.get("name", m.name);
    if (!r.get("form", s))
        throw Error(r.path("form"), "missing (adapter, lora, prefix, mh_relu, ia3, prompt)");
    m.form = enumFromName(kForms, s, r.path("form"), "value");
    if (!r.get("site", s)) throw Error(r.path("site"), "missing");
    m.site = enumFromName(kSites, s, r.path("site"), "value");
    // Defaults that follow from the form, so a short spec means what the method means.
    m.insertion = Insertion::Parallel;
    m.composition = m.form == Form::Prefix ? Composition::Gated
                    : m.form == Form::IA3  ? Composition::Rescale
                    : m.form == Form::LoRA ? Composition::Scaled
                                           : Composition::Add;
    if (m.form == Form::LoRA) m.init = Init::Lora;
    if (r.get("insertion", s)) m.insertion = enumFromName(kInsertions, s, r.path("insertion"), "value");
    if (r.get("composition", s))
        m.composition = enumFromName(kCompositions, s, r.path("composition"), "value");
    r.get("scale", m.scale);
    r.get("r", m.r);
    r.get("l", m.l);
    double alpha = 0;
    if (r.get("alpha", alpha)) {
        if (m.form != Form::LoRA) throw Error(r.path("alpha"), "only LoRA has α (use 'scale' for s)");
        if (m.r <= 0) throw Error(r.path("r"), "LoRA's α needs a positive r to give s = α / r");
        m.scale = alpha / static_cast<double>(m.r);
    }
    if (r.get("activation", s)) m.activation = activationFromString(s, r.path("activation"));
    if (r.get("layernorm", s)) m.layernorm = enumFromName(kNorms, s, r.path("layernorm"), "value");
    if (r.get("init", s)) m.init = enumFromName(kInits, s, r.path("init"), "value");
    r.get("dropout", m.dropout);
    r.get("prefix_mlp", m.prefix_mlp);
    r.get("mlp_width", m.mlp_width);
    r.get("layers", m.layers);
    if (r.has("stacks")) {
        const auto& a = r.raw("stacks");
        if (!a.is_array()) throw Error(r.path("stacks"), "expected an array of encoder, decoder, cross");
        for (size_t k = 0; k < a.size(); ++k) {
            const std::string where = r.path("stacks") + "[" + std::to_string(k) + "]";
            if (!a[k].is_string()) throw Error(where, "expected encoder, decoder or cross");
            m.stacks.push_back(enumFromName(kStacks, a[k].get<std::string>(), where, "stack"));
        }
    }
    r.finish();
    return m;
}

}  // namespace

Spec specFromJson(const nlohmann::json& j) {
    JsonReader r(j, "");
    Spec spec;
    r.get("name", spec.name);
    std::string tb;
    if (r.get("train_base", tb)) spec.train_base = enumFromName(kTrainBase, tb, "train_base", "value");
    if (r.has("modifications")) {
        const auto& mods = r.raw("modifications");
        if (!mods.is_array())
            throw Error("modifications", "expected an array, got " + JsonReader::typeName(mods));
        for (size_t i = 0; i < mods.size(); ++i)
            spec.modifications.push_back(
                modificationFromJson(mods[i], "modifications[" + std::to_string(i) + "]"));
    }
    r.finish();
    return spec;
}

Spec specFromJsonText(const std::string& text, const std::string& source) {
    const nlohmann::json j = parseJson(text, source);
    try {
        return specFromJson(j);
    } catch (const Error& e) {
        throw Error(source + ": " + e.where(), e.reason());
    }
}

void validate(const Spec& spec, const ModelConfig& cfg) {
    cfg.validate();
    const auto& mods = spec.modifications;
    for (size_t i = 0; i < mods.size(); ++i) {
        const Modification& m = mods[i];
        const std::string at = "modifications[" + std::to_string(i) + "]";
        auto fail = [&](const std::string& field, const std::string& why) {
            throw Error(field.empty() ? at : at + "." + field, why);
        };
        const char* form = toString(m.form);
        const std::string site = toString(m.site);

        // --- site × form
        switch (m.form) {
            case Form::Adapter:
                if (m.site != Site::Attention && m.site != Site::FFN)
                    fail("site",
                         std::string("an adapter modifies a sublayer's output: 'attention' or 'ffn', not '") +
                             site + "'");
                break;
            case Form::LoRA:
                if (!isWeightSite(m.site))
                    fail("site",
                         "LoRA modifies a weight: W_q, W_k, W_v, W_o, W_1 or W_2, not '" + site + "'");
                break;
            case Form::Prefix:
            case Form::MultiHeadRelu:
                if (m.site != Site::HeadAttention)
                    fail("site", std::string(form) +
                                     " attends over learned P_k, P_v per head: its site is "
                                     "'head_attention', not '" +
                                     site + "'");
                break;
            case Form::IA3:
                if (m.site != Site::Attention && m.site != Site::FFN)
                    fail("site", "IA3 rescales k and v ('attention') or the FFN activation ('ffn'), not '" +
                                     site + "'");
                break;
            case Form::Prompt:
                if (m.site != Site::Input)
                    fail("site",
                         "prompt tuning prepends embeddings to the input: its site is 'input', not '" + site +
                             "'");
                break;
        }

        // --- insertion
        if (m.insertion == Insertion::Sequential && m.form != Form::Adapter)
            fail("insertion", std::string("only an adapter can be sequential; ") + form +
                                  " reads the sublayer's "
                                  "input, so it is parallel");

        // --- composition
        const Composition c = m.composition;
        if (c == Composition::Gated && m.form != Form::Prefix)
            fail("composition",
                 std::string("'gated' needs a λ, which only the softmax of prefix attention at "
                             "head_attention defines; ") +
                     form + " at " + site + " has none");
        if (c == Composition::Rescale && m.form != Form::IA3)
            fail("composition", "'rescale' is IA3's composition only");
        if (m.form == Form::IA3 && c != Composition::Rescale)
            fail("composition",
                 std::string("IA3 composes by rescaling ('rescale'), not '") + toString(c) + "'");
        if (m.form == Form::Prompt && c != Composition::Add)
            fail("composition", "prompt tuning concatenates to the input; its composition is 'add'");
        if (c == Composition::LearnedGate && (m.form == Form::Prefix || m.form == Form::MultiHeadRelu))
            fail("composition",
                 "'learned_gate' applies to adapters and LoRA; a prefix is gated by λ ('gated')");
        if ((c == Composition::Scaled || c == Composition::LearnedScale) && !(m.scale > 0.0))
            fail("scale", "s must be positive, got " + fmtNumber(m.scale));

        // --- sizes
        if (m.usesR()) {
            if (m.r <= 0) fail("r", "the bottleneck r must be at least 1, got " + std::to_string(m.r));
            int64_t maxR = std::max(cfg.d_model, cfg.d_ff) * 4;
            if (m.r > maxR)
                fail("r", "r = " + std::to_string(m.r) + " exceeds the largest allowed bottleneck " +
                              std::to_string(maxR) + " for this backbone");
        } else if (m.r != 0) {
            fail("r", std::string(form) + " has no bottleneck r (it is sized by " +
                          (m.usesL() ? "l" : "the backbone") + ")");
        }
        if (m.usesL()) {
            if (m.l <= 0) fail("l", "the length l must be at least 1, got " + std::to_string(m.l));
            int64_t maxL = m.form == Form::Prompt ? cfg.max_positions - 1 : cfg.max_positions;
            if (m.l > maxL)
                fail("l", "l = " + std::to_string(m.l) + " is larger than allowed (" + std::to_string(maxL) +
                              (m.form == Form::Prompt ? ": prompt tokens take positions of max_positions " +
                                                            std::to_string(cfg.max_positions) + ")"
                                                      : ": at most max_positions)"));
        } else if (m.l != 0) {
            fail("l", std::string(form) + " has no length l");
        }

        // --- options
        if (!(m.dropout >= 0.0 && m.dropout < 1.0)) fail("dropout", "must be in [0, 1)");
        if (m.prefix_mlp && m.form != Form::Prefix)
            fail("prefix_mlp", "the MLP reparameterisation belongs to prefix tuning only");
        if (m.mlp_width < 0) fail("mlp_width", "must be >= 0 (0 = d / 2)");
        if (m.layernorm != AdapterNorm::None && m.form != Form::Adapter)
            fail("layernorm", "only an adapter has LayerNorm options");
        if (m.form == Form::Prompt && !m.layers.empty())
            fail("layers", "a prompt sits at the input, not in a layer");
        // --- stacks (encoder–decoder backbones)
        if (!m.stacks.empty() && !cfg.encoderDecoder())
            fail("stacks", "only an encoder–decoder backbone has stacks; this one has one stack");
        for (size_t k = 0; k < m.stacks.size(); ++k) {
            const std::string where = "stacks[" + std::to_string(k) + "]";
            if (std::find(m.stacks.begin(), m.stacks.begin() + static_cast<std::ptrdiff_t>(k), m.stacks[k]) !=
                m.stacks.begin() + static_cast<std::ptrdiff_t>(k))
                fail(where, std::string("'") + toString(m.stacks[k]) + "' is listed twice");
            if (!siteInStack(m.site, m.stacks[k]))
                fail(where, m.stacks[k] == Stack::Cross
                                ? "cross-attention has attention sites only, not '" + site + "'"
                                : "a prompt sits at the encoder's input, not in the decoder");
        }
        const std::vector<Stack> stacks = stacksOf(m, cfg);
        int64_t layersInAll = cfg.n_layers;  // a listed layer must exist in every stack it applies to
        for (Stack st : stacks)
            layersInAll = std::min(layersInAll, stackLayers(st, cfg));
        std::vector<int64_t> seen;
        for (size_t k = 0; k < m.layers.size(); ++k) {
            int64_t layer = m.layers[k];
            if (layer < 0 || layer >= layersInAll)
                fail("layers[" + std::to_string(k) + "]",
                     "layer " + std::to_string(layer) + " does not exist (the " +
                         (cfg.encoderDecoder() ? "stacks it applies to have" : "backbone has") +
                         " layers 0.." + std::to_string(layersInAll - 1) + ")");
            if (std::find(seen.begin(), seen.end(), layer) != seen.end())
                fail("layers[" + std::to_string(k) + "]",
                     "layer " + std::to_string(layer) + " is listed twice");
            seen.push_back(layer);
        }

        // --- conflicts with an earlier modification at the same place
        for (size_t k = 0; k < i; ++k) {
            const Modification& o = mods[k];
            // One delta of a form per site; head attention takes one attention-based Δh.
            bool sameSlot = o.site == m.site && (o.form == m.form || m.site == Site::HeadAttention);
            if (!sameSlot) continue;
            bool overlap = m.layers.empty() || o.layers.empty();
            for (int64_t layer : m.layers)
                if (o.appliesTo(layer)) overlap = true;
            const std::vector<Stack> other = stacksOf(o, cfg);
            if (std::none_of(stacks.begin(), stacks.end(), [&](Stack st) {
                    return std::find(other.begin(), other.end(), st) != other.end();
                }))
                overlap = false;
            if (overlap)
                fail("", std::string(form) + " at " + site + " overlaps modifications[" + std::to_string(k) +
                             "] (" + o.label() + ") in the same layers; give them disjoint 'layers'");
        }
        if (!m.name.empty())
            for (size_t k = 0; k < i; ++k)
                if (mods[k].label() == m.name) fail("name", "'" + m.name + "' is used twice");
    }
}

// ----- formulas in the paper's notation -----------------------------------------------------------

namespace {

std::string activationSymbol(Activation a) {
    switch (a) {
        case Activation::ReLU:
            return "ReLU";
        case Activation::GELU:
            return "GELU";
        case Activation::GELUTanh:
            return "GELU";
        case Activation::SiLU:
            return "SiLU";
        case Activation::Tanh:
            return "tanh";
        case Activation::Identity:
            return "";
    }
    return "";
}

std::string composed(const Modification& m, const std::string& delta) {
    switch (m.composition) {
        case Composition::Add:
            return "h ← h + " + delta;
        case Composition::Scaled:
            return "h ← h + " + fmtNumber(m.scale) + "·" + delta;
        case Composition::LearnedScale:
            return "h ← h + s·" + delta + " (s learned, s₀ = " + fmtNumber(m.scale) + ")";
        case Composition::Gated:
            return "h ← (1−λ(x))·h + λ(x)·" + delta;
        case Composition::LearnedGate:
            return "h ← h + σ(x W_g)·" + delta;
        case Composition::Rescale:
            return delta;
    }
    return delta;
}

}  // namespace

namespace {
std::string formulaInStack(const Modification& m);
}

std::string formula(const Modification& m) {
    std::string f = formulaInStack(m);
    if (m.stacks.empty()) return f;
    f += " (";
    for (size_t i = 0; i < m.stacks.size(); ++i)
        f += std::string(i ? ", " : "") + toString(m.stacks[i]);
    return f + ")";
}

namespace {

std::string formulaInStack(const Modification& m) {
    const std::string site = siteDisplay(m.site);
    switch (m.form) {
        case Form::Adapter: {
            const std::string in = m.insertion == Insertion::Sequential ? "h" : "x";
            std::string f = activationSymbol(m.activation);
            std::string delta = f.empty() ? in + " W_down W_up" : f + "(" + in + " W_down) W_up";
            return site + ": " + composed(m, delta) + " — " + toString(m.insertion);
        }
        case Form::LoRA:
            return site + ": " + composed(m, "x W_down W_up") + " — parallel (low-rank)";
        case Form::Prefix:
            return "head attention: " + composed(m, "softmax(x W_q P_kᵀ) P_v") +
                   " — parallel, l = " + std::to_string(m.l);
        case Form::MultiHeadRelu:
            return "head attention: " + composed(m, "ReLU(x W_q P_kᵀ) P_v") +
                   " — parallel, l = " + std::to_string(m.l);
        case Form::IA3:
            return m.site == Site::Attention ? "attention: k ← l_k ⊙ k, v ← l_v ⊙ v"
                                             : "FFN: f(x W_1) ← l_ff ⊙ f(x W_1)";
        case Form::Prompt:
            return "input: X ← [P; X], l = " + std::to_string(m.l);
    }
    return "";
}

}  // namespace

std::string formula(const Spec& s) {
    std::ostringstream out;
    if (s.train_base == TrainBase::All) out << "all weights: W ← W + ΔW (full fine-tuning)";
    if (s.train_base == TrainBase::Biases) out << "biases: b ← b + Δb (BitFit)";
    for (const auto& m : s.modifications) {
        if (out.tellp() > 0) out << "\n";
        out << formula(m);
    }
    return out.str();
}

}  // namespace peft
