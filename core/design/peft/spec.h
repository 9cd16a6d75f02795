// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The design space of the unified view (He et al., ICLR 2022): a spec is a list of modifications, each a
// point on the four axes — functional form, insertion form, modified representation (site), composition —
// plus its size (bottleneck r or prefix length l) and options. No torch here.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model/config.h"

namespace peft {

/// Functional form of Δh.
enum class Form {
    Adapter,        // f(z W_down + b_d) W_up + b_u                         (bottleneck r)
    LoRA,           // x W_down W_up on a named weight                     (rank r)
    Prefix,         // softmax(x W_q P_kᵀ) P_v per head                      (length l)
    MultiHeadRelu,  // ReLU(x W_q P_kᵀ) P_v per head ("cross_attn_relu")    (length l)
    IA3,            // learned rescaling of k, v (attention) or the FFN activation
    Prompt,         // l trainable input embeddings prepended to the input
};

/// Modified representation.
enum class Site { Attention, HeadAttention, FFN, Wq, Wk, Wv, Wo, W1, W2, Input };

enum class Insertion { Sequential, Parallel };

enum class Composition {
    Add,           // h ← h + Δh
    Scaled,        // h ← h + s·Δh, s fixed
    LearnedScale,  // h ← h + s·Δh, s a trained scalar initialised to `scale`
    Gated,         // h ← (1−λ)h + λΔh, λ from the joint softmax (prefix at head attention only)
    LearnedGate,   // h ← h + σ(x W_g + b_g)·Δh (UniPELT's gate)
    Rescale,       // h ← l ⊙ h (IA3 only)
};

/// Where in an encoder–decoder a modification sits: the encoder's layers, the decoder's (self-attention and
/// FFN), or the decoder's cross-attention over the encoder's output. One-stack backbones have none.
enum class Stack { Encoder, Decoder, Cross };

enum class AdapterNorm { None, In, Out };
enum class Init { Bert, Lora };

/// Which backbone parameters train besides the delta modules.
enum class TrainBase { None, Biases, All };

const char* toString(Form v);
const char* toString(Site v);
const char* toString(Insertion v);
const char* toString(Composition v);
const char* toString(AdapterNorm v);
const char* toString(Init v);
const char* toString(TrainBase v);
const char* toString(Stack v);
const char* siteDisplay(Site v);  // "FFN", "head attention", "W_q", …

bool isWeightSite(Site s);

struct Modification {
    std::string name;  // label used in parameter tables; defaults to "<form>@<site>"
    Form form = Form::Adapter;
    Site site = Site::FFN;
    Insertion insertion = Insertion::Parallel;
    Composition composition = Composition::Add;
    double scale = 1.0;                        // s (Scaled), initial s (LearnedScale); LoRA: s = α / r
    int64_t r = 0;                             // bottleneck / rank (Adapter, LoRA)
    int64_t l = 0;                             // length (Prefix, MultiHeadRelu, Prompt)
    Activation activation = Activation::ReLU;  // f of the adapter
    AdapterNorm layernorm = AdapterNorm::None;
    Init init = Init::Bert;
    double dropout = 0.0;
    bool prefix_mlp =
        false;  // Li & Liang reparameterisation: Embedding(l, d) → Linear(d, m) → tanh → Linear(m, L·2·d)
    int64_t mlp_width = 0;        // m; 0 = d / 2
    std::vector<int64_t> layers;  // empty = every layer
    /// Encoder–decoder backbones only: the stacks it applies to; empty = every stack where its site exists
    /// (cross-attention has no FFN; prompt tuning sits at the encoder's input).
    std::vector<Stack> stacks;

    std::string label() const;
    bool appliesTo(int64_t layer) const;
    bool usesR() const { return form == Form::Adapter || form == Form::LoRA; }
    bool usesL() const { return form == Form::Prefix || form == Form::MultiHeadRelu || form == Form::Prompt; }
    int64_t size() const { return usesR() ? r : (usesL() ? l : 0); }
    void setSize(int64_t v) {
        if (usesR()) r = v;
        if (usesL()) l = v;
    }
};

struct Spec {
    std::string name = "custom";
    TrainBase train_base = TrainBase::None;
    std::vector<Modification> modifications;

    bool hasGating() const;  // a gated prefix somewhere: λ(x) is defined
};

void to_json(nlohmann::json& j, const Modification& m);
void to_json(nlohmann::json& j, const Spec& s);
/// Strict parsing: unknown fields, wrong types and unknown enum names raise peft::Error with the field path.
Spec specFromJson(const nlohmann::json& j);
Spec specFromJsonText(const std::string& text, const std::string& source);

/// Whether a site exists in a stack (cross-attention: the attention sites only; prompt: the encoder only).
bool siteInStack(Site site, Stack stack);
/// The stacks a modification attaches to on this backbone, in the order encoder, decoder, cross: {Encoder}
/// on a one-stack backbone (its only stack), else those of `stacks` (or every one where its site exists).
std::vector<Stack> stacksOf(const Modification& m, const ModelConfig& cfg);
/// The layers of a stack: the encoder's (or the only stack's) n_layers, the decoder's decoder_layers.
int64_t stackLayers(Stack s, const ModelConfig& cfg);
/// A modification's name in parameter tables: its label, with ":decoder" / ":cross" / ":encoder" on an
/// encoder–decoder.
std::string moduleName(const Modification& m, Stack s, const ModelConfig& cfg);

/// Checks a spec against a backbone; throws peft::Error naming the field and the reason.
void validate(const Spec& spec, const ModelConfig& cfg);

/// The paper-notation formula of one modification, e.g. "FFN: h ← h + 4·ReLU(x W_down) W_up — parallel".
std::string formula(const Modification& m);
std::string formula(const Spec& s);

}  // namespace peft
