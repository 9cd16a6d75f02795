// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The transformer backbone (GPT-2: pre-LN, causal; BERT/RoBERTa: post-LN, bidirectional) with the
// unified view's delta modules attached by applySpec(). The attention path is explicit so λ(x) is read
// from the very logits the forward uses.
#include <string>
#include <vector>

#include <torch/torch.h>

#include "model/config.h"
#include "peft/modules.h"
#include "peft/spec.h"

namespace peft {

/// One layer's keys and values of the tokens already read, [B, t, d] after W_k / W_v (and IA3).
struct LayerKv {
    torch::Tensor k, v;
};

class AttentionImpl : public torch::nn::Module {
public:
    AttentionImpl(const ModelConfig& cfg);
    /// x: [B, T, d]; bias: [B, 1, T, t + T], 0 where a query may see a key and −inf elsewhere (t: the tokens
    /// in `kv`, 0 without); pk, pv: [l, d] or undefined. When `lambda` is given and the prefix is gated, it
    /// receives λ [B, H, T]. With `kv`, the new tokens' keys and values are appended to it and attention
    /// reads all of them.
    torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& bias, const torch::Tensor& pk,
                          const torch::Tensor& pv, torch::Tensor* lambda, LayerKv* kv = nullptr);
    void setDropout(double p) { attnDropout_ = p; }
    /// LibTorch's fused scaled-dot-product attention instead of the explicit logits (where it exists; a
    /// forward that captures λ always takes the explicit path, which λ is read from).
    bool fused;
    DeltaLinear q{nullptr}, k{nullptr}, v{nullptr}, o{nullptr};
    HeadDelta head{nullptr};     // prefix / multi-head PA at head attention
    torch::Tensor ia3_k, ia3_v;  // IA3 rescaling vectors [d]

private:
    /// The attention output [B, T, d] before W_o, by fused calls (LibTorch 2.x only).
    torch::Tensor fusedAttention(const torch::Tensor& x, const torch::Tensor& bias, const torch::Tensor& pk,
                                 const torch::Tensor& pv, const torch::Tensor& kh, const torch::Tensor& vh);
    int64_t heads_, headDim_;
    double attnDropout_;
};
TORCH_MODULE(Attention);

/// Whether this LibTorch has fused scaled-dot-product attention (2.x; Debian's 1.13 has not).
bool fusedAttentionAvailable();

class BlockImpl : public torch::nn::Module {
public:
    BlockImpl(const ModelConfig& cfg);
    torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& bias, const torch::Tensor& pk,
                          const torch::Tensor& pv, torch::Tensor* lambda, LayerKv* kv = nullptr);
    void setDropout(double p) {
        dropout_ = p;
        attn->setDropout(p);
    }
    torch::nn::LayerNorm ln1{nullptr}, ln2{nullptr};
    Attention attn{nullptr};
    DeltaLinear w1{nullptr}, w2{nullptr};
    torch::Tensor ia3_ff;                                   // IA3 on the FFN activation [d_ff]
    SublayerDelta attn_delta{nullptr}, ffn_delta{nullptr};  // adapters at the sublayers

private:
    bool preLn_;
    Activation act_;
    double dropout_;
};
TORCH_MODULE(Block);

/// What a causal model has read so far, so that decoding feeds only each step's new token: every layer's
/// keys and values, which of them are real tokens, and the prefix keys/values (computed once, by the first
/// forward). Empty until the first forward that uses it.
struct DecodeCache {
    std::vector<LayerKv> layers;
    std::vector<std::pair<torch::Tensor, torch::Tensor>> prefixes;  // per layer (P_k, P_v) or undefined
    torch::Tensor key_valid;                                        // [B, t] bool: token (1) or padding (0)
    int64_t length = 0;  // t: positions read, prompt-tuning tokens included
    /// Row i becomes the old row index[i] (beam search: each hypothesis continues its parent's cache).
    void reorder(const torch::Tensor& index);
};

struct ForwardOptions {
    bool lm = true;               // compute LM logits [B, T, V]
    bool cls = false;             // compute classification logits [B, C]
    bool capture_lambda = false;  // fill ForwardResult::lambda
    /// Causal models only: `ids` continue the sequences in the cache (positions, keys and values), which
    /// then holds them too. Prompt-tuning tokens are prepended on the first forward only.
    DecodeCache* cache = nullptr;
};

struct ForwardResult {
    torch::Tensor hidden;      // [B, T, d], final hidden states of the real tokens
    torch::Tensor lm_logits;   // [B, T, V]
    torch::Tensor cls_logits;  // [B, C]
    torch::Tensor lambda;      // [L, B, H, T]; 0 in layers without a gated prefix
};

/// One trainable group of the model for accounting: a delta module (per layer) or a backbone part.
struct DeltaRecord {
    std::string name;
    int64_t layer = -1;
    std::vector<torch::Tensor> params;
};

class TransformerImpl : public torch::nn::Module {
public:
    explicit TransformerImpl(const ModelConfig& cfg);

    /// ids: [B, T] int64; mask: [B, T] (1 = token, 0 = right padding) or undefined; types: [B, T] or
    /// undefined.
    ForwardResult forward(const torch::Tensor& ids, const torch::Tensor& mask = {},
                          const torch::Tensor& types = {}, const ForwardOptions& opts = {});

    /// Freezes the backbone, attaches the spec's delta modules and unfreezes what the spec trains
    /// (the task head always trains). Validates the spec first; may be called once.
    void applySpec(const Spec& spec);
    bool hasSpec() const { return specApplied_; }
    const Spec& spec() const { return spec_; }
    const ModelConfig& config() const { return cfg_; }
    /// One dropout rate for the embeddings, residual branches, pooled output and attention probabilities
    /// from now on (fine-tuning's choice; config().dropout / attn_dropout report it).
    void setDropout(double p);
    /// kAttentionPaths: "auto" (the default: fused where available), "fused" (refused without it, naming
    /// this LibTorch) or "explicit".
    void setAttentionPath(const std::string& path);

    /// How many input tokens fit: max_positions less prompt-tuning tokens and, where a prefix shifts the
    /// positions (Hugging Face semantics), less the longest gated prefix.
    int64_t maxInputTokens() const;
    /// What trains, grouped like countParams(): one record per delta module and layer.
    const std::vector<DeltaRecord>& deltaRecords() const { return records_; }
    std::vector<torch::Tensor> trainableParameters() const;
    /// Folds every LoRA into its weight (see DeltaLinearImpl::mergeLora).
    void mergeLora();

    torch::nn::Embedding tok{nullptr}, pos{nullptr}, type{nullptr};
    torch::nn::LayerNorm emb_ln{nullptr}, ln_f{nullptr};
    std::vector<Block> blocks;
    torch::nn::Linear lm_head{nullptr};  // untied only
    torch::nn::Linear cls_dense{nullptr}, classifier{nullptr};
    torch::Tensor prompt;  // prompt tuning [l, d]
    PrefixMlp prefix_mlp{nullptr};

    /// Per-layer (P_k, P_v) [l, d] for this forward (from the shared MLP or each layer's own parameters);
    /// undefined in layers without a prefix.
    std::vector<std::pair<torch::Tensor, torch::Tensor>> layerPrefixes();

private:
    torch::nn::ModuleList blockList_{nullptr};  // registers `blocks` as blocks.0, blocks.1, …
    ModelConfig cfg_;
    Spec spec_;
    bool specApplied_ = false;
    std::vector<int64_t> mlpLayers_;  // layers fed by prefix_mlp, in its output order
    std::vector<DeltaRecord> records_;
};
TORCH_MODULE(Transformer);

/// A backbone with deterministic random weights (seeded), e.g. the default until a pretrained one loads.
Transformer makeRandomBackbone(const ModelConfig& cfg, uint64_t seed);

/// Total number of elements of tensors.
int64_t numel(const std::vector<torch::Tensor>& ts);

}  // namespace peft
